using System.Net.Http.Json;
using System.Text.Json;
using static KlingGateway.Tests.Access.AccessHosts;

namespace KlingGateway.Tests.Access;

/// <summary>Who may call: client keys, company users' tokens, anonymous callers, and who sees which generation.</summary>
public sealed class IdentityAndOwnershipTests : IAsyncLifetime
{
    private GatewayFactory _gateway = null!;

    public async Task InitializeAsync() => _gateway = await StartAsync(Settings());

    public Task DisposeAsync() => StopAsync(_gateway);

    [Theory]
    [InlineData("GET", "/v1/generations")]
    [InlineData("POST", "/v1/generations")]
    [InlineData("GET", "/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("POST", "/v2/video/generations")]
    [InlineData("GET", "/v2/generate/video/kling/generation?generation_id=gen_AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("GET", "/v1/usage")]
    [InlineData("GET", "/v1/models")]
    public async Task NoCredentials_AnonymousOff_Is401Problem(string method, string path)
    {
        var (status, body, response) = await SendAsync(_gateway.CreateClient(), new HttpMethod(method), path, method == "POST" ? Body() : null);

        Assert.Equal(401, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("unauthenticated", body.GetProperty("code").GetString());
        Assert.Contains("ApiKey", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Simulator.CreateCount);
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    [InlineData("/swagger/v1/swagger.json")]
    public async Task HealthAndOpenApi_NeedNoCredentials(string path)
    {
        Assert.Equal(200, (int)(await _gateway.CreateClient().GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task UnknownXApiKey_Is401_AndTheKeyIsNotEchoedOrLogged()
    {
        const string wrong = "not-a-configured-key-7f3e";
        var (status, body, _) = await SendAsync(Client(_gateway, wrong), HttpMethod.Get, "/v1/generations");

        Assert.Equal(401, status);
        Assert.Equal("invalid_credentials", body.GetProperty("code").GetString());
        Assert.DoesNotContain(wrong, body.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, _gateway.ReadLog(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientKey_WorksAsXApiKeyAndAsBearer()
    {
        var asHeader = await SendAsync(Client(_gateway, AlphaKey), HttpMethod.Get, "/v1/usage");
        var bearer = _gateway.CreateClient();
        bearer.DefaultRequestHeaders.Authorization = new("Bearer", AlphaKey);
        var asBearer = await SendAsync(bearer, HttpMethod.Get, "/v1/usage");

        Assert.Equal(200, asHeader.Status);
        Assert.Equal("alpha", asHeader.Body.GetProperty("client").GetString());
        Assert.Equal(200, asBearer.Status);
        Assert.Equal("alpha", asBearer.Body.GetProperty("client").GetString());
        var log = _gateway.ReadLog();
        Assert.DoesNotContain(AlphaKey, log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DocsPlaceholderBearer_AnonymousOff_Is401()
    {
        var client = _gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", "<YOUR_AIMLAPI_KEY>");

        var (status, _, _) = await CreateAsync(client, Body(), route: "/v2/video/generations");

        Assert.Equal(401, status);
        Assert.Equal(0, _gateway.Simulator.CreateCount);
    }

    [Fact]
    public async Task GenerationOfAnotherClient_Is404OnEveryRoute_LikeAnUnknownId_AndAdminSeesIt()
    {
        var alpha = Client(_gateway, AlphaKey);
        var beta = Client(_gateway, BetaKey);
        var own = await CreatedIdAsync(alpha, Body(directives: "queued=3600"));
        var compatible = (await CreateAsync(alpha, Body(Bodies.V21Pro, directives: "queued=3600"), route: "/v2/generate/video/kling/generation")).Body.GetProperty("id").GetString()!;

        foreach (var id in new[] { own, compatible })
        {
            var read = await SendAsync(beta, HttpMethod.Get, $"/v1/generations/{id}");
            var universal = await SendAsync(beta, HttpMethod.Get, $"/v2/video/generations?generation_id={id}");
            var legacy = await SendAsync(beta, HttpMethod.Get, $"/v2/generate/video/kling/generation?generation_id={id}");
            foreach (var (status, body, _) in new[] { read, universal, legacy })
            {
                Assert.Equal(404, status);
                Assert.Equal("generation_not_found", body.GetProperty("code").GetString());
            }

            Assert.Equal(200, (await SendAsync(alpha, HttpMethod.Get, $"/v1/generations/{id}")).Status);
            Assert.Equal(200, (await SendAsync(Client(_gateway, AdminKey), HttpMethod.Get, $"/v2/video/generations?generation_id={id}")).Status);
        }

        var unknown = await SendAsync(beta, HttpMethod.Get, "/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA");
        var other = await SendAsync(beta, HttpMethod.Get, $"/v1/generations/{own}");
        Assert.Equal(unknown.Body.GetProperty("title").GetString(), other.Body.GetProperty("title").GetString());
        Assert.Equal(unknown.Body.GetProperty("detail").GetString(), other.Body.GetProperty("detail").GetString());

        Assert.Empty((await beta.GetFromJsonAsync<JsonElement>("/v1/generations")).GetProperty("items").EnumerateArray());
        Assert.Equal(2, (await alpha.GetFromJsonAsync<JsonElement>("/v1/generations")).GetProperty("items").GetArrayLength());
        Assert.Equal(2, (await Client(_gateway, AdminKey).GetFromJsonAsync<JsonElement>("/v1/generations")).GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task UserToken_AttributesTheGenerationToThePerson_AndOtherUsersGet404()
    {
        var ana = Client(_gateway, AlphaKey, UserToken("ana"));
        var bob = Client(_gateway, AlphaKey, UserToken("bob"));
        var id = await CreatedIdAsync(ana, Body(directives: "queued=3600"));

        Assert.Equal(200, (await SendAsync(ana, HttpMethod.Get, $"/v1/generations/{id}")).Status);
        Assert.Equal(404, (await SendAsync(bob, HttpMethod.Get, $"/v1/generations/{id}")).Status);
        Assert.Equal(404, (await SendAsync(Client(_gateway, AlphaKey), HttpMethod.Get, $"/v1/generations/{id}")).Status);
        Assert.Equal("ana", (await SendAsync(ana, HttpMethod.Get, "/v1/usage")).Body.GetProperty("user").GetString());

        // A token alone acts as the configured users client (Auth:Jwt:Client, "users").
        var tokenOnly = _gateway.CreateClient();
        tokenOnly.DefaultRequestHeaders.Authorization = new("Bearer", UserToken("carla"));
        var usage = await SendAsync(tokenOnly, HttpMethod.Get, "/v1/usage");
        Assert.Equal("users", usage.Body.GetProperty("client").GetString());
        Assert.Equal("carla", usage.Body.GetProperty("user").GetString());
    }

    [Fact]
    public async Task TokenWithAWrongSignatureOrAudience_Is401()
    {
        var forged = Client(_gateway, AlphaKey, UserToken("ana", signingKey: "another-signing-key-that-is-long-enough-000"));
        var otherAudience = Client(_gateway, AlphaKey, UserToken("ana", audience: "someone-else"));

        Assert.Equal(401, (await SendAsync(forged, HttpMethod.Get, "/v1/generations")).Status);
        Assert.Equal(401, (await SendAsync(otherAudience, HttpMethod.Get, "/v1/generations")).Status);
    }
}

/// <summary>With Auth:AllowAnonymous, as in the zero-config Development run.</summary>
public sealed class AnonymousAllowedTests : IAsyncLifetime
{
    private GatewayFactory _gateway = null!;

    public async Task InitializeAsync() => _gateway = await StartAsync(Settings(("Auth:AllowAnonymous", "true")));

    public Task DisposeAsync() => StopAsync(_gateway);

    [Fact]
    public async Task DocsPlaceholderBearer_IsServedAsAnonymous_ButAnUnknownXApiKeyIsStill401()
    {
        var placeholder = _gateway.CreateClient();
        placeholder.DefaultRequestHeaders.Authorization = new("Bearer", "<YOUR_AIMLAPI_KEY>");

        var created = await CreateAsync(placeholder, Body(), route: "/v2/video/generations");
        var usage = await SendAsync(placeholder, HttpMethod.Get, "/v1/usage");

        Assert.Equal(200, created.Status);
        Assert.Equal("anonymous", usage.Body.GetProperty("client").GetString());
        Assert.Equal(401, (await SendAsync(Client(_gateway, "wrong-key"), HttpMethod.Get, "/v1/usage")).Status);
    }

    [Fact]
    public async Task AnonymousCallers_CannotSeeAClientsGeneration()
    {
        var id = await CreatedIdAsync(Client(_gateway, AlphaKey), Body(directives: "queued=3600"));

        Assert.Equal(404, (await SendAsync(_gateway.CreateClient(), HttpMethod.Get, $"/v1/generations/{id}")).Status);
    }
}
