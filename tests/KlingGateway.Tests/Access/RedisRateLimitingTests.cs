using System.Diagnostics.Metrics;
using KlingGateway.Infrastructure;
using KlingGateway.Tests.Generations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static KlingGateway.Tests.Access.AccessHosts;

namespace KlingGateway.Tests.Access;

/// <summary>
/// Requests per minute counted across replicas through Redis, and a Redis that stops answering: the limiter fails open
/// (each replica counts alone for a while), never with a 5xx.
/// </summary>
public sealed class RedisRateLimitingTests : IAsyncLifetime
{
    private const string Instrument = "kling_gateway.rate_limit.redis_unavailable";

    private readonly SharedLedgerHosts _hosts = new();

    public Task InitializeAsync() => _hosts.InitializeAsync();

    public Task DisposeAsync() => _hosts.DisposeAsync();

    [RedisFact(needsPostgres: true)]
    public async Task TwoReplicasOnOneRedisAndOneLedger_AFivePerMinuteClientGetsExactlyFiveOfTen()
    {
        var settings = Settings(
            ("Ledger:Provider", "postgres"), ("Ledger:ConnectionString", _hosts.Database!.ConnectionString),
            ("Redis:ConnectionString", TestRedis.ConnectionString), ("Redis:KeyPrefix", TestRedis.NewPrefix()),
            // A loaded test machine must not turn a slow answer into a count on one replica alone.
            ("Redis:Timeout", "00:00:01"),
            ("Auth:Clients:alpha:RequestsPerMinute", "5"), ("Auth:Clients:beta:RequestsPerMinute", "5"));
        var first = await Start(settings);
        settings["AimlApi:BaseUrl"] = first.SimulatorAddress;
        var second = await Start(settings);

        // One after another, alternating replicas: one count, and each answer says what remains of it.
        var alpha = new[] { Client(first, AlphaKey), Client(second, AlphaKey) };
        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 10; i++)
        {
            answers.Add(await alpha[i % 2].GetAsync("/v1/generations"));
        }

        Assert.Equal([200, 200, 200, 200, 200, 429, 429, 429, 429, 429], answers.Select(a => (int)a.StatusCode));
        Assert.Equal(["4", "3", "2", "1", "0"], answers.Take(5).Select(a => a.Headers.GetValues("RateLimit-Remaining").Single()));
        Assert.All(answers, a => Assert.Equal("5;w=60", a.Headers.GetValues("RateLimit-Policy").Single()));
        Assert.All(answers.Skip(5), a =>
        {
            Assert.Equal("0", a.Headers.GetValues("RateLimit-Remaining").Single());
            Assert.InRange(int.Parse(a.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 60);
        });

        // All at once, over both replicas: still exactly five.
        var beta = new[] { Client(first, BetaKey), Client(second, BetaKey) };
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => beta[i % 2].GetAsync("/v1/generations")));
        Assert.Equal(5, concurrent.Count(a => (int)a.StatusCode == 200));
        Assert.Equal(5, concurrent.Count(a => (int)a.StatusCode == 429));
    }

    [RedisServerFact]
    public async Task RedisPausedThenKilledMidRun_RequestsAreServedAndCountedPerReplica_ThenCountedInRedisAgain()
    {
        await using var redis = await OwnRedisServer.StartAsync();
        var prefix = TestRedis.NewPrefix();
        var gateway = await Start(Settings(
            ("Redis:ConnectionString", redis.Address + ",connectTimeout=2000"), ("Redis:KeyPrefix", prefix),
            ("Redis:Timeout", "00:00:00.500"), ("Redis:BreakDuration", "00:00:00.500"),
            ("Auth:Clients:alpha:RequestsPerMinute", "1000")));
        using var unavailable = new MetricCollector<long>(gateway.Services.GetRequiredService<IMeterFactory>(), GatewayMetrics.Name, Instrument);
        var alpha = Client(gateway, AlphaKey);
        var statuses = new List<int>();
        async Task SendAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                statuses.Add((int)(await alpha.GetAsync("/v1/generations")).StatusCode);
            }
        }

        await SendAsync(3);
        Assert.Equal(3L, await redis.CountAsync(prefix, "alpha"));
        Assert.Empty(unavailable.GetMeasurementSnapshot());

        // Paused: the connection stays open and nothing answers. Each request waits at most Redis:Timeout, and after a
        // timeout the circuit is open: requests are counted here without asking.
        redis.Pause();
        await SendAsync(5);
        Assert.Contains(unavailable.GetMeasurementSnapshot(), m => Equals(m.Tags["reason"], "timeout"));
        Assert.Contains(unavailable.GetMeasurementSnapshot(), m => Equals(m.Tags["reason"], "circuit_open"));
        Assert.Equal(1, LogCount(gateway, 6041));

        // Resumed: once the circuit closes, counting is back in Redis.
        redis.Resume();
        await SendUntilAsync(alpha, statuses, () => Task.FromResult(LogCount(gateway, 6042) == 1));
        var counted = await redis.CountAsync(prefix, "alpha");
        await SendAsync(1);
        Assert.Equal(counted + 1, await redis.CountAsync(prefix, "alpha"));

        // Killed: commands fail at once while disconnected; requests are still served.
        await redis.KillAsync();
        var before = unavailable.GetMeasurementSnapshot().Count;
        await SendAsync(5);
        Assert.True(unavailable.GetMeasurementSnapshot().Count >= before + 5);
        Assert.Equal(2, LogCount(gateway, 6041));

        // Started again on the same port: the connection comes back by itself, and so does counting in Redis.
        await redis.RestartAsync();
        await SendUntilAsync(alpha, statuses, () => Task.FromResult(LogCount(gateway, 6042) == 2));
        await SendUntilAsync(alpha, statuses, async () => await redis.CountAsync(prefix, "alpha") is > 0);

        Assert.All(statuses, s => Assert.Equal(200, s));
    }

    [Fact]
    public async Task UnreachableRedisAtStart_TheGatewayStartsAndServes_CountingPerReplica()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var deadPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var gateway = await Start(Settings(
            ("Redis:ConnectionString", $"127.0.0.1:{deadPort},connectTimeout=500"), ("Redis:KeyPrefix", TestRedis.NewPrefix()),
            ("Auth:Clients:alpha:RequestsPerMinute", "2")));
        var alpha = Client(gateway, AlphaKey);

        var statuses = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add((int)(await alpha.GetAsync("/v1/generations")).StatusCode);
        }

        // Counted on this replica: the limit still holds, and nothing failed.
        Assert.Equal([200, 200, 429], statuses);
        Assert.True(LogCount(gateway, 6041) >= 1);
    }

    [Theory]
    [InlineData("Redis:ConnectionString", "127.0.0.1:6379,nosuchoption=1", "Redis:ConnectionString")]
    [InlineData("Redis:Timeout", "00:00:05", "Redis:Timeout")]
    [InlineData("Redis:BreakDuration", "-00:00:01", "Redis:BreakDuration")]
    [InlineData("Auth:RateLimitWindow", "00:00:00.500", "Auth:RateLimitWindow")]
    public async Task BadRateLimitSetting_RefusesToStartAndNamesIt(string key, string value, string named)
    {
        var gateway = new GatewayFactory(Settings((key, value)));
        await gateway.InitializeAsync();
        _hosts.Add(gateway);

        var failure = Record.Exception(() => gateway.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains(named, failure.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("nosuchoption", failure.Message, StringComparison.Ordinal);
    }

    private async Task<GatewayFactory> Start(Dictionary<string, string?> settings)
    {
        var gateway = await StartAsync(settings);
        _hosts.Add(gateway);
        return gateway;
    }

    /// <summary>Sends requests until the condition holds (bounded; the circuit closes after Redis:BreakDuration).</summary>
    private static async Task SendUntilAsync(HttpClient client, List<int> statuses, Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold in time");
            statuses.Add((int)(await client.GetAsync("/v1/generations")).StatusCode);
            await Task.Delay(100);
        }
    }

    private static int LogCount(GatewayFactory gateway, int eventId) =>
        gateway.ReadLog().Split('\n').Count(line => line.Contains($"\"EventId\":{{\"Id\":{eventId},", StringComparison.Ordinal));
}
