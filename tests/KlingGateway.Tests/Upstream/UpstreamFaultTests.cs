using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace KlingGateway.Tests.Upstream;

/// <summary>Each upstream fault's answer (docs/upstream.md, "Errors"), and that the generation is never lost.</summary>
public sealed class UpstreamFaultTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Theory]
    [InlineData("create=400", 400, "upstream_rejected_request")]
    [InlineData("create=401", 502, "upstream_key_rejected")]
    [InlineData("create=403", 503, "upstream_out_of_credits")]
    [InlineData("create=404", 502, "upstream_not_found")]
    [InlineData("create=429", 429, "upstream_rate_limited")]
    [InlineData("create=500", 502, "upstream_error")]
    [InlineData("create=502", 502, "upstream_error")]
    [InlineData("create=503", 503, "upstream_unavailable")]
    [InlineData("create=504", 504, "upstream_timeout")]
    [InlineData("create=malformed", 502, "upstream_bad_response")]
    [InlineData("create=429,status-as-string", 429, "upstream_rate_limited")]
    public async Task CreateFault_IsMappedToAProblemAndTheGenerationIsKept(string directive, int status, string code)
    {
        var client = gateway.CreateClient();
        var response = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro, directive));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));

        // Never a lost record: the failed generation can be read back.
        var id = problem.GetProperty("generation_id").GetString()!;
        var generation = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
        Assert.Equal("failed", generation.GetProperty("status").GetString());
        Assert.False(string.IsNullOrWhiteSpace(generation.GetProperty("error").GetProperty("code").GetString()));
    }

    [Fact]
    public async Task UpstreamBadRequest_CarriesTheUpstreamMessage()
    {
        var response = await gateway.CreateClient().PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro, "create=400"));
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Contains("Body validation error", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task KeyRejected_TellsTheOperatorNotTheCaller()
    {
        var response = await gateway.CreateClient().PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro, "create=401"));
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Contains("AimlApi:ApiKey", problem.GetProperty("detail").GetString());
        Assert.Contains("your credentials were fine", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("create=429,retry-after=7", "7")]
    [InlineData("create=429", "10")]
    [InlineData("create=503,retry-after=3", "3")]
    public async Task RateLimitOrUnavailable_CarriesRetryAfter(string directive, string retryAfter)
    {
        var response = await gateway.CreateClient().PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V2Master, directive));

        Assert.Equal(retryAfter, response.Headers.GetValues("Retry-After").Single());
    }

    [Fact]
    public async Task SlowCreate_Is504AndRecordedAsMaybeStarted()
    {
        await using var impatient = gateway.WithWebHostBuilder(b => b.UseSetting("AimlApi:CreateTimeout", "00:00:00.300"));
        var client = impatient.CreateClient();
        var response = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Standard, "create-delay=3"));

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("upstream_timeout", problem.GetProperty("code").GetString());
        var generation = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{problem.GetProperty("generation_id").GetString()}");
        Assert.Equal("upstream_timeout", generation.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnreachableUpstream_Is502()
    {
        int closedPort;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        await using var cutOff = gateway.WithWebHostBuilder(b => b.UseSetting("AimlApi:BaseUrl", $"http://127.0.0.1:{closedPort}"));
        var response = await cutOff.CreateClient().PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Standard));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("upstream_unreachable", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task TransientFetchFaults_AreRetriedAndTheReadSucceeds()
    {
        var client = gateway.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V21Standard, "queued=0,generating=0,fetch=503x2"));
        await Task.Delay(80);

        var response = await client.GetAsync($"/v1/generations/{created.GetProperty("id").GetString()}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var generation = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("succeeded", generation.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("fetch=400", 502, "upstream_refused_fetch")]
    [InlineData("fetch=500", 502, "upstream_error")]
    [InlineData("fetch=429", 429, "upstream_rate_limited")]
    [InlineData("fetch=404", 502, "upstream_not_found")]
    [InlineData("fetch=malformed", 502, "upstream_bad_response")]
    public async Task PersistentFetchFault_IsMappedAndTheGenerationIsUnchanged(string directive, int status, string code)
    {
        var client = gateway.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, $"queued=0,generating=0,{directive}"));
        var id = created.GetProperty("id").GetString()!;
        await Task.Delay(80);

        var response = await client.GetAsync($"/v1/generations/{id}");

        Assert.Equal(status, (int)response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Equal(id, problem.GetProperty("generation_id").GetString());
        var listed = await client.GetFromJsonAsync<JsonElement>("/v1/generations?limit=100");
        var kept = listed.GetProperty("items").EnumerateArray().Single(g => g.GetProperty("id").GetString() == id);
        Assert.Equal("queued", kept.GetProperty("status").GetString());
    }
}
