using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace KlingGateway.Tests.Models;

/// <summary>Bad input through the whole gateway: one clear problem, nothing spent, nothing recorded.</summary>
public sealed class ValidationThroughGatewayTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Theory]
    [InlineData("/v1/generations")]
    [InlineData("/v2/video/generations")]
    [InlineData("/v2/generate/video/kling/generation")]
    public async Task ManyFaults_AreOneProblemKeyedByPathAndNothingReachesTheUpstream(string route)
    {
        var creates = gateway.Simulator.CreateCount;
        const string body = """
            {"model":"kling-video/v1/standard/image-to-video","image_url":"ftp://x","cfg_scale":3,"cfg":1,"duration":7,
             "camera_control":{"type":"simple","config":{"zoom":12}},
             "dynamic_masks":[{"mask":"https://example.com/m.png","trajectories":[{"x":1,"y":2}]}]}
            """;

        var response = await gateway.CreateClient().PostAsync(route, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        var keys = errors.EnumerateObject().Select(e => e.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "image_url", "cfg_scale", "cfg", "duration", "camera_control.config.zoom", "dynamic_masks[0].trajectories" }, keys);
        Assert.Contains("between 0 and 1", errors.GetProperty("cfg_scale")[0].GetString());
        Assert.Contains("5 or 10", errors.GetProperty("duration")[0].GetString());
        Assert.Equal(creates, gateway.Simulator.CreateCount);
    }

    [Theory]
    [InlineData("text/plain", "{}", HttpStatusCode.UnsupportedMediaType)]
    [InlineData("application/json", "{\"model\": ", HttpStatusCode.BadRequest)]
    [InlineData("application/json", "[1, 2]", HttpStatusCode.BadRequest)]
    [InlineData("application/json", "", HttpStatusCode.BadRequest)]
    public async Task UnreadableBody_IsAProblemNeverA500(string contentType, string body, HttpStatusCode status)
    {
        var response = await gateway.CreateClient().PostAsync("/v1/generations", new StringContent(body, Encoding.UTF8, contentType));

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.False(string.IsNullOrWhiteSpace((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task OversizedBody_Is413()
    {
        await using var small = gateway.WithWebHostBuilder(b => b.UseSetting("Gateway:MaxRequestBodyBytes", (2 * 1024 * 1024).ToString()));
        var body = $$"""{"model":"{{Bodies.V1Pro}}","image_url":"https://example.com/a.jpg","prompt":"{{new string('a', 3 * 1024 * 1024)}}"}""";

        var response = await small.CreateClient().PostAsync("/v1/generations", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Theory]
    [InlineData("/v1/generations")]
    [InlineData("/v2/video/generations")]
    [InlineData("/v2/generate/video/kling/generation")]
    public async Task IgnoredFieldsOnV2_AreAcceptedWithWarningsKeptWithTheGeneration(string route)
    {
        var client = gateway.CreateClient();
        var body = Bodies.Minimal(Bodies.V2Master, "queued=3600");
        body["cfg_scale"] = 0.5;
        body["camera_control"] = new { type = "forward_up" };

        var response = await client.PostAsJsonAsync(route, body);
        Assert.True(response.IsSuccessStatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();

        var warned = created.GetProperty("warnings").EnumerateArray().Select(w => w.GetProperty("field").GetString()).ToList();
        Assert.Equal(["cfg_scale", "camera_control"], warned);
        var stored = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{created.GetProperty("id").GetString()}");
        Assert.Equal(warned, stored.GetProperty("warnings").EnumerateArray().Select(w => w.GetProperty("field").GetString()));
    }
}
