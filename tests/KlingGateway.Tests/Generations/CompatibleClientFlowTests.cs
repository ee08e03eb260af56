using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace KlingGateway.Tests.Generations;

/// <summary>
/// The upstream docs' own client flow, unchanged but for the base URL: create with the docs' body and a
/// placeholder key, poll with generation_id while the status is queued or generating, then read video.url.
/// </summary>
public sealed class CompatibleClientFlowTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Theory]
    [InlineData("/v2/video/generations", Bodies.V1Standard)]
    [InlineData("/v2/video/generations", Bodies.V1Pro)]
    [InlineData("/v2/generate/video/kling/generation", Bodies.V2Master)]
    [InlineData("/v2/generate/video/kling/generation", Bodies.V21Standard)]
    [InlineData("/v2/generate/video/kling/generation", Bodies.V21Pro)]
    public async Task DocsPollingLoop_EndsCompletedWithAPlayableVideo(string route, string model)
    {
        var client = gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "<YOUR_AIMLAPI_KEY>");

        var create = await client.PostAsJsonAsync(route, new Dictionary<string, object>
        {
            ["model"] = model,
            ["prompt"] = "Mona Lisa puts on glasses with her hands.",
            ["image_url"] = Bodies.MonaLisa,
            ["duration"] = "5",
        });
        Assert.True((int)create.StatusCode < 400, $"create answered {(int)create.StatusCode}");
        var genId = (await create.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        Assert.False(string.IsNullOrEmpty(genId));

        JsonElement data;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            data = await client.GetFromJsonAsync<JsonElement>($"{route}?generation_id={Uri.EscapeDataString(genId!)}");
            var status = data.GetProperty("status").GetString();
            Assert.Contains(status, new[] { "queued", "generating", "completed", "error" });
            if (status is not ("queued" or "generating") || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal("completed", data.GetProperty("status").GetString());
        Assert.Equal(genId, data.GetProperty("id").GetString());
        var url = data.GetProperty("video").GetProperty("url").GetString()!;

        // A plain GET of the link, as the docs' client downloads it: no key, no headers.
        using var download = gateway.Server.CreateClient();
        var video = await download.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, video.StatusCode);
        Assert.Equal("video/mp4", video.Content.Headers.ContentType?.MediaType);
        var bytes = await video.Content.ReadAsByteArrayAsync();
        Assert.Equal("ftyp", System.Text.Encoding.ASCII.GetString(bytes, 4, 4));
    }
}
