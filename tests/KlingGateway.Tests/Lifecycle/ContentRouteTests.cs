using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Videos;
using Microsoft.Extensions.DependencyInjection;
using static KlingGateway.Tests.Access.AccessHosts;
using static KlingGateway.Tests.Lifecycle.LifecycleHelpers;

namespace KlingGateway.Tests.Lifecycle;

/// <summary>
/// <c>GET /v1/generations/{id}/content</c> as a browser and a drop-in client use it: the link alone (no credentials),
/// ranges and conditional requests, the ownership rule with credentials, refused tokens, retention, and streaming from
/// the source while nothing is stored. Anonymous callers are off: only a token or a client key gets in.
/// </summary>
public sealed class ContentRouteTests : IAsyncLifetime
{
    private readonly List<GatewayFactory> _gateways = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await StopAsync(gateway);
        }
    }

    private async Task<GatewayFactory> GatewayAsync(params (string Key, string? Value)[] extra)
    {
        var gateway = await StartAsync(Settings(extra));
        _gateways.Add(gateway);
        return gateway;
    }

    /// <summary>A generation of alpha's, finished, its video settled as <paramref name="storage"/>; its resource.</summary>
    private static async Task<JsonElement> FinishedAsync(GatewayFactory gateway, string storage = "stored", string directives = "")
    {
        var alpha = Client(gateway, AlphaKey);
        var id = await CreatedIdAsync(alpha, Body(directives: "queued=0,generating=0" + directives));
        await ListedUntilAsync(alpha, id, g => VideoStorage(g) == storage, $"the video to be {storage}");
        return await alpha.GetFromJsonAsync<JsonElement>($"/v1/generations/{id}");
    }

    private static HttpClient Plain(GatewayFactory gateway) => gateway.Server.CreateClient();

    [Fact]
    public async Task TheLinkAlone_ServesTheStoredVideo_WithRangesAndConditionalRequests()
    {
        var gateway = await GatewayAsync();
        var generation = await FinishedAsync(gateway);
        var id = generation.GetProperty("id").GetString()!;
        var video = generation.GetProperty("video");
        var url = video.GetProperty("url").GetString()!;
        Assert.StartsWith($"http://localhost/v1/generations/{id}/content?token=", url);
        Assert.True(video.GetProperty("url_expires_at").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(59));
        var sample = await new HttpClient().GetByteArrayAsync($"{gateway.SimulatorAddress}/files/sample.mp4");

        using var full = await Plain(gateway).GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
        Assert.Equal("video/mp4", full.Content.Headers.ContentType?.MediaType);
        Assert.Equal(sample.Length, full.Content.Headers.ContentLength);
        Assert.Equal(sample, await full.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{video.GetProperty("sha256").GetString()}\"", full.Headers.ETag?.ToString());
        Assert.NotNull(full.Content.Headers.LastModified);
        Assert.Equal("bytes", full.Headers.AcceptRanges.Single());

        using var rangeRequest = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Range = new RangeHeaderValue(100, 199) } };
        using var range = await Plain(gateway).SendAsync(rangeRequest);
        Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
        Assert.Equal($"bytes 100-199/{sample.Length}", range.Content.Headers.ContentRange?.ToString());
        Assert.Equal(sample[100..200], await range.Content.ReadAsByteArrayAsync());

        using var conditional = new HttpRequestMessage(HttpMethod.Get, url);
        conditional.Headers.IfNoneMatch.Add(full.Headers.ETag!);
        using var notModified = await Plain(gateway).SendAsync(conditional);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());

        using var past = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Range = new RangeHeaderValue(sample.Length + 10, sample.Length + 20) } };
        using var unsatisfiable = await Plain(gateway).SendAsync(past);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);
        Assert.Equal("range_not_satisfiable", (await unsatisfiable.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        using var head = await Plain(gateway).SendAsync(new HttpRequestMessage(HttpMethod.Head, url));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(sample.Length, head.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task WithCredentials_TheTokenMayBeLeftOut_AnotherClientGets404_AndAnAdminSeesIt()
    {
        var gateway = await GatewayAsync();
        var id = (await FinishedAsync(gateway)).GetProperty("id").GetString()!;
        var upstreamId = await gateway.UpstreamIdAsync(id);
        var fileRequests = gateway.Simulator.FileRequestCount(upstreamId);

        Assert.Equal(200, await StatusOfAsync(Client(gateway, AlphaKey), $"/v1/generations/{id}/content"));
        Assert.Equal(200, await StatusOfAsync(Client(gateway, AdminKey), $"/v1/generations/{id}/content"));
        var other = await SendAsync(Client(gateway, BetaKey), HttpMethod.Get, $"/v1/generations/{id}/content");
        var unknown = await SendAsync(Client(gateway, BetaKey), HttpMethod.Get, "/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA/content");
        Assert.Equal(404, other.Status);
        Assert.Equal("generation_not_found", other.Body.GetProperty("code").GetString());
        Assert.Equal(unknown.Body.GetProperty("detail").GetString(), other.Body.GetProperty("detail").GetString());
        var none = await SendAsync(Plain(gateway), HttpMethod.Get, $"/v1/generations/{id}/content");
        Assert.Equal(401, none.Status);
        Assert.Equal("unauthenticated", none.Body.GetProperty("code").GetString());
        // Served from storage: the video's source was not asked again.
        Assert.Equal(fileRequests, gateway.Simulator.FileRequestCount(upstreamId));
    }

    [Fact]
    public async Task ForgedExpiredAndOtherGenerationsTokens_AreRefused_AndNoTokenReachesTheLog()
    {
        var gateway = await GatewayAsync();
        var first = await FinishedAsync(gateway);
        var second = await FinishedAsync(gateway);
        var id = first.GetProperty("id").GetString()!;
        var links = gateway.Services.GetRequiredService<VideoLinks>();
        var valid = QueryToken(first.GetProperty("video").GetProperty("url").GetString()!);
        var (expiry, signature) = (valid[..valid.IndexOf('.')], valid[(valid.IndexOf('.') + 1)..]);
        var tampered = signature[..^2] + (signature[^2] == 'A' ? "BA" : "AA");

        var refused = new Dictionary<string, string>
        {
            ["garbage"] = "not-a-token",
            ["forged signature"] = $"{expiry}.{tampered}",
            ["a later expiry with the same signature"] = $"{long.Parse(expiry) + 3600}.{signature}",
            ["expired"] = links.Token(id, DateTimeOffset.UtcNow.AddSeconds(-5)),
            ["another generation's"] = QueryToken(second.GetProperty("video").GetProperty("url").GetString()!),
            ["empty"] = "",
        };
        foreach (var (what, token) in refused)
        {
            var answer = await SendAsync(Plain(gateway), HttpMethod.Get, $"/v1/generations/{id}/content?token={Uri.EscapeDataString(token)}");
            Assert.True(answer.Status == 403, $"{what}: {answer.Status}");
            Assert.Equal("invalid_video_link", answer.Body.GetProperty("code").GetString());
        }

        // A token for an id the gateway never issued tells nothing more than a bad one.
        var unknown = await SendAsync(Plain(gateway), HttpMethod.Get, $"/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA/content?token={valid}");
        Assert.Equal(403, unknown.Status);
        Assert.Equal(200, await StatusOfAsync(Plain(gateway), $"/v1/generations/{id}/content?token={valid}"));

        // Every request above is logged by then: the last one's line is in.
        var log = await LogWithAsync(gateway, $"/v1/generations/{id}/content");
        await Task.Delay(500);
        log = gateway.ReadLog();
        Assert.DoesNotContain(signature, log, StringComparison.Ordinal);
        Assert.DoesNotContain("token=", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterTheRetention_TheVideoIsRemoved_TheLinkIs410_AndTheResourceSaysExpired()
    {
        var gateway = await GatewayAsync(("Storage:Retention", "00:00:03"));
        var alpha = Client(gateway, AlphaKey);
        var generation = await FinishedAsync(gateway);
        var id = generation.GetProperty("id").GetString()!;
        Assert.Equal(200, await StatusOfAsync(alpha, $"/v1/generations/{id}/content"));

        var expired = await ListedUntilAsync(alpha, id, g => VideoStorage(g) == "expired", "the retention sweep");
        Assert.False(expired.GetProperty("video").TryGetProperty("retained_until", out _));
        var gone = await SendAsync(Plain(gateway), HttpMethod.Get, QueryPath(generation.GetProperty("video").GetProperty("url").GetString()!));
        Assert.Equal(410, gone.Status);
        Assert.Equal("video_expired", gone.Body.GetProperty("code").GetString());
        Assert.Empty(Directory.GetFiles(Path.Combine(gateway.WorkDirectory, "videos"), "*.mp4", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task WithStorageOff_TheLinkStreamsFromTheSource_WithRanges_AndNothingIsKept()
    {
        var gateway = await GatewayAsync(("Storage:Enabled", "false"));
        var generation = await FinishedAsync(gateway, storage: "not_kept");
        var url = generation.GetProperty("video").GetProperty("url").GetString()!;
        var sample = await new HttpClient().GetByteArrayAsync($"{gateway.SimulatorAddress}/files/sample.mp4");

        using var full = await Plain(gateway).GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
        Assert.Equal("video/mp4", full.Content.Headers.ContentType?.MediaType);
        Assert.Equal(sample, await full.Content.ReadAsByteArrayAsync());

        using var rangeRequest = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Range = new RangeHeaderValue(0, 99) } };
        using var range = await Plain(gateway).SendAsync(rangeRequest);
        Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
        Assert.Equal($"bytes 0-99/{sample.Length}", range.Content.Headers.ContentRange?.ToString());
        Assert.Equal(sample[..100], await range.Content.ReadAsByteArrayAsync());

        // The source saw the Range, and none of the caller's other headers: no token, no key, no credentials.
        var seen = gateway.Simulator.FileRequests.Last();
        Assert.Equal("bytes=0-99", seen.Headers["Range"]);
        Assert.Equal("", seen.QueryString);
        Assert.False(seen.Headers.ContainsKey("Authorization"));
        Assert.False(seen.Headers.ContainsKey("X-Api-Key"));
        Assert.False(Directory.Exists(Path.Combine(gateway.WorkDirectory, "videos"))
            && Directory.EnumerateFiles(Path.Combine(gateway.WorkDirectory, "videos"), "*.mp4", SearchOption.AllDirectories).Any());
    }

    [Fact]
    public async Task WhileStreamingFromTheSource_ACallerLeavingCancelsOnlyItsOwnTransfer()
    {
        var gateway = await GatewayAsync(("Storage:Enabled", "false"));
        // 600 KB at 200 KB/s: three seconds of streaming.
        var generation = await FinishedAsync(gateway, storage: "not_kept", directives: ",video-bytes=600000,video-rate=200000");
        var url = generation.GetProperty("video").GetProperty("url").GetString()!;

        var staying = Plain(gateway).GetByteArrayAsync(url);
        using (var leaving = await Plain(gateway).GetAsync(url, HttpCompletionOption.ResponseHeadersRead))
        {
            await using var body = await leaving.Content.ReadAsStreamAsync();
            var buffer = new byte[1024];
            Assert.True(await body.ReadAsync(buffer) > 0);
        }

        var whole = await staying;
        Assert.Equal(600000, whole.Length);
        Assert.Equal("ftyp", System.Text.Encoding.ASCII.GetString(whole[4..8]));
    }

    [Fact]
    public async Task CompatibleRoutes_HandOutTheGatewaysLink_OrTheUpstreamsWhenConfigured()
    {
        var gateway = await GatewayAsync(("Videos:PublicBaseUrl", "https://kling.internal.example/"));
        var id = (await FinishedAsync(gateway)).GetProperty("id").GetString()!;
        var compatible = await Client(gateway, AlphaKey).GetFromJsonAsync<JsonElement>($"/v2/video/generations?generation_id={id}");
        Assert.StartsWith($"https://kling.internal.example/v1/generations/{id}/content?token=", compatible.GetProperty("video").GetProperty("url").GetString());

        var passThrough = await GatewayAsync(("Videos:CompatibleVideoUrl", "upstream"));
        var other = (await FinishedAsync(passThrough)).GetProperty("id").GetString()!;
        var upstream = await Client(passThrough, AlphaKey).GetFromJsonAsync<JsonElement>($"/v2/video/generations?generation_id={other}");
        Assert.StartsWith($"{passThrough.SimulatorAddress}/files/", upstream.GetProperty("video").GetProperty("url").GetString());
        var own = await Client(passThrough, AlphaKey).GetFromJsonAsync<JsonElement>($"/v1/generations/{other}");
        Assert.Contains("/content?token=", own.GetProperty("video").GetProperty("url").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGenerationWithoutAVideo_AnswersVideoNotAvailable()
    {
        var gateway = await GatewayAsync();
        var alpha = Client(gateway, AlphaKey);
        var id = await CreatedIdAsync(alpha, Body(directives: "queued=3600"));

        var answer = await SendAsync(alpha, HttpMethod.Get, $"/v1/generations/{id}/content");

        Assert.Equal(404, answer.Status);
        Assert.Equal("video_not_available", answer.Body.GetProperty("code").GetString());
        Assert.Equal("queued", answer.Body.GetProperty("status").GetString());
    }

    /// <summary>The status of a GET whose body is a video, not JSON.</summary>
    private static async Task<int> StatusOfAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        return (int)response.StatusCode;
    }

    private static string QueryToken(string url) => Uri.UnescapeDataString(new Uri(url).Query["?token=".Length..]);

    private static string QueryPath(string url) => new Uri(url).PathAndQuery;
}
