using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KlingGateway.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace KlingGateway.Tests.Simulator;

/// <summary>One upstream simulator on a real loopback port, shared by a test class, with named helpers.</summary>
public sealed class SimulatorFixture : IAsyncLifetime
{
    public const string ApiKey = "test-simulator-key";
    public const string UniversalPath = "/v2/video/generations";
    public const string LegacyPath = "/v2/generate/video/kling/generation";
    public const string V1Standard = "kling-video/v1/standard/image-to-video";
    public const string V2Master = "klingai/v2-master-image-to-video";
    public const string V21Pro = "kling-video/v2.1/pro/image-to-video";
    public const string ImageUrl = "https://example.com/first-frame.png";

    private WebApplication? _app;
    private HttpClient? _client;

    public WebApplication App => _app ?? throw new InvalidOperationException("The simulator is not started.");

    /// <summary>A client whose base address is the simulator; it sends no key unless a helper adds one.</summary>
    public HttpClient Client => _client ?? throw new InvalidOperationException("The simulator is not started.");

    public SimulatorState State => App.Services.GetRequiredService<SimulatorState>();

    public async Task InitializeAsync()
    {
        (_app, _client) = await StartAsync(new SimulatorOptions { ApiKey = ApiKey });
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>Starts a further simulator with its own options (dispose both when done).</summary>
    public static async Task<(WebApplication App, HttpClient Client)> StartAsync(SimulatorOptions options)
    {
        var app = SimulatorApp.Build(options);
        await app.StartAsync();
        return (app, new HttpClient { BaseAddress = new Uri(app.BaseAddress()) });
    }

    public static string PathOf(bool legacy) => legacy ? LegacyPath : UniversalPath;

    public static HttpRequestMessage CreateRequest(JsonObject body, bool legacy = false, string? key = ApiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, PathOf(legacy))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return request;
    }

    public static JsonObject Body(string model = V1Standard, string? prompt = null) => new()
    {
        ["model"] = model,
        ["image_url"] = ImageUrl,
        ["prompt"] = prompt ?? "a cat walks on the beach",
        ["duration"] = "5",
    };

    public static HttpRequestMessage FetchRequest(string id, bool legacy = false, string? key = ApiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"{PathOf(legacy)}?generation_id={Uri.EscapeDataString(id)}");
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return request;
    }

    /// <summary>Creates a generation whose prompt carries the directives; returns the upstream id.</summary>
    public async Task<string> CreateAsync(string directives, string model = V1Standard, bool legacy = false)
    {
        using var response = await Client.SendAsync(CreateRequest(Body(model, $"a cat [sim:{directives}]"), legacy));
        response.EnsureSuccessStatusCode();
        var body = await ReadJsonAsync(response);
        return body["id"]!.GetValue<string>();
    }

    public async Task<(HttpResponseMessage Response, JsonObject Body)> FetchAsync(string id, bool legacy = false)
    {
        var response = await Client.SendAsync(FetchRequest(id, legacy));
        return (response, await ReadJsonAsync(response));
    }

    /// <summary>Fetches until the status is no longer one of <paramref name="inProgress"/>, within a bounded time.</summary>
    public async Task<List<string>> PollStatusesAsync(string id, params string[] inProgress)
    {
        var seen = new List<string>();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            var (response, body) = await FetchAsync(id);
            response.Dispose();
            var status = body["status"]!.GetValue<string>();
            if (seen.Count == 0 || seen[^1] != status)
            {
                seen.Add(status);
            }

            if (!inProgress.Contains(status))
            {
                return seen;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"Generation {id} still in progress after 5 s; statuses seen: {string.Join(", ", seen)}");
    }

    public static async Task<JsonObject> ReadJsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(text) as JsonObject
            ?? throw new InvalidOperationException($"Expected a JSON object, got: {text}");
    }
}
