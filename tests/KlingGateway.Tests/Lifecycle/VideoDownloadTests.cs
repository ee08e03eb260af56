using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static KlingGateway.Tests.Lifecycle.LifecycleHelpers;

namespace KlingGateway.Tests.Lifecycle;

/// <summary>
/// The video's source misbehaving: a 404, 500s (transient, then for good), a body over the cap with and without a
/// length, and something that is not a video. A video that is not kept is still served, streamed from its source.
/// </summary>
public sealed class VideoDownloadTests : IAsyncLifetime
{
    private GatewayFactory _gateway = null!;

    public async Task InitializeAsync()
    {
        _gateway = new GatewayFactory(new Dictionary<string, string?>
        {
            ["Storage:MaxVideoBytes"] = "4096",
            ["Storage:DownloadAttempts"] = "3",
            ["Storage:DownloadRetryDelay"] = "00:00:00.100",
        });
        await _gateway.InitializeAsync();
    }

    public Task DisposeAsync() => ((IAsyncLifetime)_gateway).DisposeAsync();

    private async Task<(string Id, string UpstreamId, JsonElement Settled)> SettledAsync(string directives)
    {
        var client = _gateway.CreateClient();
        var id = (await _gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro, $"queued=0,generating=0,{directives}"))).GetProperty("id").GetString()!;
        var settled = await ListedUntilAsync(client, id, g => VideoStorage(g) is "stored" or "failed", "the download to settle");
        return (id, await _gateway.UpstreamIdAsync(id), settled);
    }

    private int FileRequests(string upstreamId) => _gateway.Simulator.FileRequestCount(upstreamId);

    [Fact]
    public async Task VideoAnswering404_IsNotKept_AtOnce_AndItsLinkAnswersWithAProblem()
    {
        var (id, upstreamId, settled) = await SettledAsync("video=404");

        Assert.Equal("failed", VideoStorage(settled));
        Assert.Equal("succeeded", settled.GetProperty("status").GetString());
        Assert.Equal(1, FileRequests(upstreamId));
        using var content = await _gateway.CreateClient().GetAsync($"/v1/generations/{id}/content");
        Assert.Equal(HttpStatusCode.BadGateway, content.StatusCode);
        var problem = await content.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("video_source_failed", problem.GetProperty("code").GetString());
        Assert.Equal(404, problem.GetProperty("source_status").GetInt32());
        Assert.Equal("application/problem+json", content.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task VideoAnswering500Twice_IsRetried_ThenKept()
    {
        var (_, upstreamId, settled) = await SettledAsync("video=500x2");

        Assert.Equal("stored", VideoStorage(settled));
        Assert.Equal(3, FileRequests(upstreamId));
    }

    [Fact]
    public async Task VideoAnswering500Always_GivesUpAfterTheAttempts_AndIsStillServedFromItsSourceWhenItRecovers()
    {
        var (id, upstreamId, settled) = await SettledAsync("video=500x3");

        Assert.Equal("failed", VideoStorage(settled));
        Assert.Equal(3, FileRequests(upstreamId));
        Assert.Contains(id, await LogWithAsync(_gateway, "\"Id\":8012"), StringComparison.Ordinal);
        // The source serves it again (its fourth request): the link streams it through the gateway.
        using var content = await _gateway.CreateClient().GetAsync($"/v1/generations/{id}/content");
        Assert.Equal(HttpStatusCode.OK, content.StatusCode);
        Assert.Equal("ftyp", System.Text.Encoding.ASCII.GetString((await content.Content.ReadAsByteArrayAsync())[4..8]));
    }

    [Theory]
    [InlineData("video-bytes=20000")]
    [InlineData("video-bytes=20000,video-chunked")]
    [InlineData("video-bytes=20000,video-rate=100000")]
    public async Task VideoOverTheCap_IsNotKept_AndNothingIsLeftInStorage(string directives)
    {
        var (id, upstreamId, settled) = await SettledAsync(directives);

        Assert.Equal("failed", VideoStorage(settled));
        Assert.Equal(1, FileRequests(upstreamId));
        var directory = Path.Combine(_gateway.WorkDirectory, "videos");
        Assert.DoesNotContain(Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories), f => f.Contains(id, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("video-type=text/html")]
    [InlineData("video-type=application/octet-stream,video-bytes=4")]
    public async Task SomethingThatIsNotAVideo_IsNotKept(string directives)
    {
        var (_, _, settled) = await SettledAsync(directives);

        Assert.Equal("failed", VideoStorage(settled));
    }

    [Fact]
    public async Task AnOctetStreamThatIsAnMp4_IsKeptAsVideoMp4()
    {
        var (_, _, settled) = await SettledAsync("video-type=application/octet-stream");

        Assert.Equal("stored", VideoStorage(settled));
        Assert.Equal("video/mp4", settled.GetProperty("video").GetProperty("content_type").GetString());
    }
}
