using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace KlingGateway.Tests.Generations;

/// <summary>The normalized status across the upstream's words, through the gateway, on both answer shapes.</summary>
public sealed class StatusTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Theory]
    [InlineData("outcome=complete", "succeeded", "complete", null)]
    [InlineData("outcome=error-name", "failed", "error", "generation_failed")]
    [InlineData("outcome=error-detail", "failed", "error", "generation_failed")]
    [InlineData("outcome=error-text", "failed", "error", "generation_failed")]
    [InlineData("outcome=failed", "failed", "failed", "generation_failed")]
    [InlineData("outcome=status:cancelled", "failed", "cancelled", "unknown_status")]
    public async Task UpstreamFinalWord_IsNormalized(string directive, string status, string upstreamStatus, string? errorCode)
    {
        var client = gateway.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Standard, $"queued=0,generating=0,{directive}"));
        var finished = await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);

        Assert.Equal(status, finished.GetProperty("status").GetString());
        Assert.Equal(upstreamStatus, finished.GetProperty("upstream_status").GetString());
        Assert.True(finished.TryGetProperty("completed_at", out _));
        if (errorCode is null)
        {
            Assert.False(finished.TryGetProperty("error", out _));
            Assert.StartsWith("http", finished.GetProperty("video").GetProperty("url").GetString());
        }
        else
        {
            Assert.Equal(errorCode, finished.GetProperty("error").GetProperty("code").GetString());
            Assert.False(string.IsNullOrWhiteSpace(finished.GetProperty("error").GetProperty("message").GetString()));
        }
    }

    [Fact]
    public async Task ErrorDetailShape_BecomesOneReadableMessage()
    {
        var client = gateway.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V2Master, "queued=0,generating=0,outcome=error-detail"));
        var finished = await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);

        Assert.Contains("Could not detect face in the image", finished.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Success_CarriesVideoFieldsAndUsage()
    {
        var client = gateway.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V21Pro, "queued=0,generating=0"));
        var finished = await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);

        Assert.Equal("succeeded", finished.GetProperty("status").GetString());
        var video = finished.GetProperty("video");
        Assert.Equal("video/mp4", video.GetProperty("content_type").GetString());
        Assert.Equal("output.mp4", video.GetProperty("file_name").GetString());
        Assert.True(video.GetProperty("file_size").GetInt64() > 0);
        Assert.True(finished.GetProperty("usage").GetProperty("credits_used").GetDouble() > 0);
    }

    [Fact]
    public async Task LegacyInProgressWords_AreQueuedThenProcessing()
    {
        var client = gateway.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, "words=legacy,queued=0,generating=3600"));
        var id = created.GetProperty("id").GetString()!;

        JsonElement current;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            await Task.Delay(60);
            current = await client.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
        }
        while (current.GetProperty("upstream_status").GetString() != "active" && DateTime.UtcNow < deadline);

        Assert.Equal("processing", current.GetProperty("status").GetString());
        Assert.Equal("active", current.GetProperty("upstream_status").GetString());

        // The compatible route speaks the upstream's canonical words, so the docs' polling loop keeps waiting.
        var compatible = await client.GetFromJsonAsync<JsonElement>($"/v2/video/generations?generation_id={id}");
        Assert.Equal("generating", compatible.GetProperty("status").GetString());
    }

    [Fact]
    public async Task FinishedGeneration_IsAnsweredFromTheLedgerAlone()
    {
        var client = gateway.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Standard, "queued=0,generating=0"));
        var id = created.GetProperty("id").GetString()!;
        await GatewayFactory.WaitUntilFinishedAsync(client, id);
        var upstreamId = await gateway.UpstreamIdAsync(id);
        var fetches = gateway.Simulator.FetchCount(upstreamId);

        for (var i = 0; i < 5; i++)
        {
            await Task.Delay(60);
            var again = await client.GetAsync($"/v1/generations/{id}");
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        Assert.Equal(fetches, gateway.Simulator.FetchCount(upstreamId));
    }

    [Theory]
    [InlineData("/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("/v1/generations/not-an-id")]
    [InlineData("/v2/video/generations?generation_id=gen_AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("/v2/generate/video/kling/generation?generation_id=789339022468063304")]
    public async Task IdTheGatewayDidNotIssue_Is404Problem(string path)
    {
        var response = await gateway.CreateClient().GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("generation_not_found", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task CompatibleFetchWithoutGenerationId_Is400NamingTheParameter()
    {
        var response = await gateway.CreateClient().GetAsync("/v2/video/generations");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty("generation_id", out _));
    }
}
