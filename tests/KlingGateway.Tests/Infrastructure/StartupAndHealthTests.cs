using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>How the gateway starts: health endpoints, the zero-config Development run, and refusals in Production.</summary>
public sealed class StartupAndHealthTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task Health_IsHealthyWithALedgerAndAKey(string path)
    {
        var response = await gateway.CreateClient().GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Ready_IsUnhealthyWhenTheLedgerCannotBeReached()
    {
        var ledger = Path.Combine(gateway.WorkDirectory, "vanishing", "ledger.db");
        await using var host = gateway.WithWebHostBuilder(b => b.UseSetting("Ledger:Path", ledger));
        var client = host.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);

        Directory.Delete(Path.GetDirectoryName(ledger)!, recursive: true);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
    }

    [Fact]
    public void ProductionWithoutKey_RefusesToStartAndNamesTheSetting()
    {
        using var production = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseEnvironment("Production");
            b.UseSetting("Ledger:Path", Path.Combine(gateway.WorkDirectory, "production.db"));
        });

        var failure = Record.Exception(() => production.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains("AimlApi:ApiKey", failure.ToString());
        Assert.Contains("AimlApi__ApiKey", failure.ToString());
    }

    [Fact]
    public void ProductionWithSimulatorSwitch_RefusesToStart()
    {
        using var production = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseEnvironment("Production");
            b.UseSetting("AimlApi:UseSimulator", "true");
            b.UseSetting("Ledger:Path", Path.Combine(gateway.WorkDirectory, "production.db"));
        });

        var failure = Record.Exception(() => production.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains("AimlApi:UseSimulator", failure.ToString());
    }

    [Fact]
    public async Task DevelopmentWithoutKey_RunsAGenerationEndToEndOnTheBuiltInSimulator()
    {
        await using var zeroConfig = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseEnvironment("Development");
            b.UseSetting("Ledger:Path", Path.Combine(gateway.WorkDirectory, "zero-config.db"));
            b.UseSetting("Simulator:QueuedSeconds", "0.1");
            b.UseSetting("Simulator:GeneratingSeconds", "0.2");
            b.UseSetting("Generations:StatusRefreshInterval", "00:00:00.050");
        });
        var client = zeroConfig.CreateClient();

        var ready = await client.GetFromJsonAsync<JsonElement>("/health/ready");
        Assert.Contains("simulator", ready.GetProperty("checks").GetProperty("upstream_key").GetProperty("description").GetString());

        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V2Master));
        var finished = await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);
        Assert.Equal("succeeded", finished.GetProperty("status").GetString());
        // The video is the gateway's own link, and it plays with a plain GET: the built-in simulator's file, kept or streamed.
        var url = finished.GetProperty("video").GetProperty("url").GetString()!;
        Assert.StartsWith($"http://localhost/v1/generations/{created.GetProperty("id").GetString()}/content?token=", url);
        using var video = await zeroConfig.Server.CreateClient().GetAsync(url);
        Assert.Equal(System.Net.HttpStatusCode.OK, video.StatusCode);
        Assert.Equal("video/mp4", video.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task DevelopmentWithoutKey_TakesABurstOfRequestsWithoutLimits()
    {
        // A developer or a test corpus sends many requests to the zero-config run at once: no rate or in-flight limit
        // may turn them into 429s there (the demo's anonymous caller has none).
        await using var zeroConfig = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseEnvironment("Development");
            b.UseSetting("Ledger:Path", Path.Combine(gateway.WorkDirectory, "zero-config-burst.db"));
        });
        var client = zeroConfig.CreateClient();

        var creates = await Task.WhenAll(Enumerable.Range(0, 25).Select(_ => client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro))));
        var invalid = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ => client.PostAsJsonAsync("/v1/generations", new { model = Bodies.V1Pro })));

        Assert.All(creates, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        Assert.All(invalid, r => Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode));
    }
}
