using System.Text.Json;
using System.Text.RegularExpressions;
using KlingGateway.Infrastructure;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>One catalog of problems: every answer carries a code from it, and the README and OpenAPI list it.</summary>
public sealed partial class ProblemCatalogTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Fact]
    public void Codes_AreUniqueAndSnakeCase()
    {
        Assert.Equal(ProblemCatalog.All.Count, ProblemCatalog.All.Select(p => p.Code).Distinct(StringComparer.Ordinal).Count());
        Assert.All(ProblemCatalog.All, p => Assert.Matches(SnakeCase(), p.Code));
        Assert.All(ProblemCatalog.All, p => Assert.InRange(p.Status, 400, 599));
    }

    [Fact]
    public void Readme_ListsEveryCodeWithItsStatus()
    {
        var readme = Repository.ReadAllText("README.md");

        Assert.All(ProblemCatalog.All, p => Assert.Contains($"| `{p.Code}` | {p.Status} |", readme, StringComparison.Ordinal));
    }

    [Fact]
    public void NoSourceFile_WritesACodeOutsideTheCatalog()
    {
        var sources = Directory.EnumerateFiles(Path.Combine(Repository.Root, "src", "KlingGateway"), "*.cs", SearchOption.AllDirectories)
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !path.EndsWith("ProblemCatalog.cs", StringComparison.Ordinal));

        var offenders = sources.Where(path => CodeLiteral().IsMatch(File.ReadAllText(path))).ToList();

        Assert.Empty(offenders);
    }

    [Theory]
    [InlineData("GET", "/v1/no-such-route", 404, "route_not_found")]
    [InlineData("DELETE", "/v1/models", 405, "method_not_allowed")]
    [InlineData("GET", "/v1/generations?limit=0", 400, "invalid_query")]
    [InlineData("GET", "/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA", 404, "generation_not_found")]
    [InlineData("GET", "/v1/models/kling-video/v9/image-to-video", 404, "model_not_found")]
    [InlineData("GET", "/v2/video/generations", 400, "invalid_query")]
    [InlineData("GET", "/v1/usage?days=0", 400, "invalid_query")]
    public async Task EveryProblem_CarriesItsCatalogCode(string method, string path, int status, string code)
    {
        using var response = await gateway.CreateClient().SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await AssertProblemAsync(response, status, code);
    }

    [Fact]
    public async Task AnInvalidBody_IsAValidationProblemWithItsCode()
    {
        using var response = await gateway.CreateClient().PostAsync("/v1/generations",
            new StringContent("""{"model":"kling-video/v1/pro/image-to-video","image_url":"ftp://x"}""", System.Text.Encoding.UTF8, "application/json"));

        var body = await AssertProblemAsync(response, 400, "invalid_request");
        Assert.True(body.GetProperty("errors").TryGetProperty("image_url", out _));
    }

    [Theory]
    [InlineData("text/html")]
    [InlineData("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")]
    [InlineData("image/png")]
    public async Task ABrowsersAcceptHeader_StillGetsAProblem(string accept)
    {
        var locked = new GatewayFactory(new Dictionary<string, string?> { ["Auth:AllowAnonymous"] = "false" });
        await locked.InitializeAsync();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/generations");
            request.Headers.Accept.ParseAdd(accept);

            using var response = await locked.CreateClient().SendAsync(request);

            await AssertProblemAsync(response, 401, "unauthenticated");
        }
        finally
        {
            await ((IAsyncLifetime)locked).DisposeAsync();
        }
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, int status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.Equal(ProblemCatalog.Find(code)!.Title, body.GetProperty("title").GetString());
        Assert.Equal(status, body.GetProperty("status").GetInt32());
        return body;
    }

    [GeneratedRegex("^[a-z]+(_[a-z0-9]+)*$")]
    private static partial Regex SnakeCase();

    // A "code" member written as a string literal: ["code"] = "...".
    [GeneratedRegex("""\["code"\]\s*=\s*"[a-z_]+""")]
    private static partial Regex CodeLiteral();
}
