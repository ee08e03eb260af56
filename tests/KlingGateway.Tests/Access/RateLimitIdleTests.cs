using static KlingGateway.Tests.Access.AccessHosts;

namespace KlingGateway.Tests.Access;

/// <summary>
/// A rate-limited client that pauses for longer than the framework keeps an idle partition limiter (it disposes one
/// 10 s after it has nothing to do) is served as before, with the Production default of 60 requests per minute.
/// </summary>
public sealed class RateLimitIdleTests : IAsyncLifetime
{
    private GatewayFactory _gateway = null!;

    public async Task InitializeAsync() => _gateway = await StartAsync(Settings(("Auth:Defaults:RequestsPerMinute", "60")));

    public Task DisposeAsync() => StopAsync(_gateway);

    [Fact]
    public async Task DefaultLimit_AfterAPauseLongerThanTheWindowAndTheIdleExpiry_IsServed()
    {
        var alpha = Client(_gateway, AlphaKey);
        Assert.Equal(200, (int)(await alpha.GetAsync("/v1/generations")).StatusCode);

        // The one-minute window ends, the limiter is idle, and 10 s later the framework disposes it.
        await Task.Delay(TimeSpan.FromSeconds(75));

        for (var i = 0; i < 3; i++)
        {
            var answer = await alpha.GetAsync("/v1/generations");
            Assert.Equal(200, (int)answer.StatusCode);
            Assert.Equal((59 - i).ToString(System.Globalization.CultureInfo.InvariantCulture), answer.Headers.GetValues("RateLimit-Remaining").Single());
        }
    }
}

/// <summary>The same with a one-second window (a setting), so the pause is short, and the count is kept across it.</summary>
public sealed class RateLimitShortWindowIdleTests : IAsyncLifetime
{
    private GatewayFactory _gateway = null!;

    public async Task InitializeAsync() => _gateway = await StartAsync(Settings(
        ("Auth:RateLimitWindow", "00:00:01"), ("Auth:Clients:alpha:RequestsPerMinute", "2")));

    public Task DisposeAsync() => StopAsync(_gateway);

    [Fact]
    public async Task ShortWindow_LimitsPerWindow_AndAfterAnIdlePauseLongerThanTheIdleExpiry_CountsAfresh()
    {
        var alpha = Client(_gateway, AlphaKey);
        var first = await alpha.GetAsync("/v1/generations");
        Assert.Equal(200, (int)first.StatusCode);
        Assert.Equal("1", first.Headers.GetValues("RateLimit-Remaining").Single());
        Assert.Equal("2;w=1", first.Headers.GetValues("RateLimit-Policy").Single());

        // The framework disposes a partition limiter idle for 10 s; wait past that.
        await Task.Delay(TimeSpan.FromSeconds(12));

        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 3 && (answers.Count == 0 || (int)answers[^1].StatusCode == 200); i++)
        {
            answers.Add(await alpha.GetAsync("/v1/generations"));
        }

        // A fresh window: two requests, then 429 until it ends (unless a slow machine crossed into the next window).
        Assert.Equal(200, (int)answers[0].StatusCode);
        Assert.Equal("1", answers[0].Headers.GetValues("RateLimit-Remaining").Single());
        Assert.All(answers, a => Assert.Contains((int)a.StatusCode, new[] { 200, 429 }));
        Assert.DoesNotContain(answers, a => (int)a.StatusCode >= 500);
    }
}
