using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using KlingGateway.Creates;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static KlingGateway.Tests.Validation.Requests;

namespace KlingGateway.Tests.Validation;

/// <summary>Binding and the filter in a real pipeline: a minimal host with the create route shape.</summary>
public sealed class ValidationFilterTests : IAsyncLifetime
{
    private WebApplication app = null!;
    private HttpClient client = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddGatewayMetrics();
        builder.Services.AddGenerationValidation();
        app = builder.Build();
        app.MapPost("/v1/generations", Create).AddEndpointFilter<ValidationFilter>();
        app.MapPost("/v2/generate/video/kling/generation", Create)
            .WithMetadata(new CreateRouteMetadata(CreateRoute.Legacy))
            .AddEndpointFilter<ValidationFilter>();
        await app.StartAsync();
        client = app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await app.DisposeAsync();
    }

    private static IResult Create(GenerationRequest request) =>
        TypedResults.Ok(new { route = request.Route.ToString(), warnings = request.Warnings, summary = request.Summary() });

    private static StringContent Json(string body, string mediaType = "application/json") => new(body, Encoding.UTF8, mediaType);

    private static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    [Fact]
    public async Task ValidBody_ReachesTheHandler()
    {
        var response = await client.PostAsync("/v1/generations", Json(Body(V1Pro, "\"duration\":\"5\"")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("Gateway", body.RootElement.GetProperty("route").GetString());
        Assert.Equal(0, body.RootElement.GetProperty("warnings").GetArrayLength());
    }

    [Fact]
    public async Task IgnoredFieldsOnV2_ReachTheHandlerAsWarnings()
    {
        var response = await client.PostAsync("/v1/generations", Json(Body(V2Master, "\"cfg_scale\":0.3,\"camera_control\":{\"type\":\"forward_up\"}")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var warnings = body.RootElement.GetProperty("warnings");
        Assert.Equal(["cfg_scale", "camera_control"], warnings.EnumerateArray().Select(w => w.GetProperty("field").GetString()));
        Assert.Contains("ignore", warnings[0].GetProperty("message").GetString());
    }

    [Fact]
    public async Task InvalidFields_Return400ValidationProblemListingEveryFault()
    {
        var response = await client.PostAsync("/v1/generations", Json(Body(V21Standard, "\"cfg\":1,\"duration\":7,\"tail_image_url\":\"" + Url + "\"")));

        var problem = await Problem(response, HttpStatusCode.BadRequest);
        Assert.Equal("The request has invalid fields", problem.GetProperty("title").GetString());
        Assert.Contains("3 fields", problem.GetProperty("detail").GetString());
        var errors = problem.GetProperty("errors");
        Assert.Equal(["cfg", "duration", "tail_image_url"], errors.EnumerateObject().Select(p => p.Name).Order());
        Assert.StartsWith("tail_image_url is not taken by", errors.GetProperty("tail_image_url")[0].GetString());
    }

    [Fact]
    public async Task LegacyRouteMetadata_AcceptsLegacyFields()
    {
        var response = await client.PostAsync("/v2/generate/video/kling/generation",
            Json(Body(V1Standard, "\"type\":\"image-to-video\",\"external_task_id\":\"job-42\"")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"route\":\"Legacy\"", await response.Content.ReadAsStringAsync());

        var gateway = await client.PostAsync("/v1/generations", Json(Body(V1Standard, "\"type\":\"image-to-video\"")));
        var problem = await Problem(gateway, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("type", out _));
    }

    [Fact]
    public async Task StructuredJsonMediaType_IsAccepted()
    {
        var response = await client.PostAsync("/v1/generations", Json(Body(V1Pro), "application/vnd.kling+json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task NonJsonContentType_Returns415(string? mediaType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Body(V1Pro)));
        content.Headers.ContentType = mediaType is null ? null : new MediaTypeHeaderValue(mediaType);

        var response = await client.PostAsync("/v1/generations", content);

        var problem = await Problem(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Contains("application/json", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("{\"model\": \"x\",, }", "line 1")]
    [InlineData("{\n  \"model\": \"secret-value\"\n  \"image_url\": 1\n}", "line 3")]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    public async Task MalformedJson_Returns400WithThePositionAndNoBodyEcho(string body, string where)
    {
        var response = await client.PostAsync("/v1/generations", Json(body));

        var problem = await Problem(response, HttpStatusCode.BadRequest);
        Assert.Equal("The request body is not valid JSON", problem.GetProperty("title").GetString());
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains(where, detail);
        Assert.DoesNotContain("secret-value", detail);
    }

    [Theory]
    [InlineData("[1,2]", "an array")]
    [InlineData("\"text\"", "a string")]
    [InlineData("null", "null")]
    public async Task NonObjectJson_Returns400(string body, string kind)
    {
        var response = await client.PostAsync("/v1/generations", Json(body));

        var problem = await Problem(response, HttpStatusCode.BadRequest);
        Assert.Equal("The request body must be a JSON object", problem.GetProperty("title").GetString());
        Assert.Contains(kind, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task BodyOverTheLimitWithContentLength_Returns413()
    {
        var content = new ByteArrayContent(new byte[GenerationRequest.MaxBodyBytes + 1]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await client.PostAsync("/v1/generations", content);

        await Problem(response, HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task ChunkedBodyOverTheLimit_Returns413()
    {
        var content = new StreamContent(new EndlessStream());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await client.PostAsync("/v1/generations", content);

        var problem = await Problem(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("48 MB", problem.GetProperty("detail").GetString());
    }

    /// <summary>A body of unknown length that never ends; only the limit stops the read.</summary>
    private sealed class EndlessStream : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            buffer.AsSpan(offset, count).Fill((byte)' ');
            return count;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
