// The least an ASP.NET Core hop in front of the upstream can cost: Kestrel, one minimal-API endpoint and one pooled
// HttpClient that forwards the create body as it came, with the key added. No validation, ledger, authentication,
// rate limits or logging, so it is a floor to measure the gateway against, not a gateway (bench/FINDINGS.md, item 20).
// GET /health answers "ok" for the benchmark's readiness wait.
//
//   FLOOR_UPSTREAM   the upstream's base URL (the simulator)
//   FLOOR_KEY_FILE   a file holding the upstream key
//   ASPNETCORE_URLS  where to listen
using System.Net.Http.Headers;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();

var upstream = new Uri(Environment.GetEnvironmentVariable("FLOOR_UPSTREAM")
    ?? throw new InvalidOperationException("FLOOR_UPSTREAM is not set."));
var key = File.ReadAllText(Environment.GetEnvironmentVariable("FLOOR_KEY_FILE")
    ?? throw new InvalidOperationException("FLOOR_KEY_FILE is not set.")).Trim();
var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
{
    BaseAddress = upstream,
};
app.MapPost("/v1/generations", async (HttpContext http) =>
{
    using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/video/generations")
    {
        Content = new StreamContent(http.Request.Body),
    };
    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
    http.Response.StatusCode = (int)response.StatusCode;
    http.Response.ContentType = "application/json";
    await response.Content.CopyToAsync(http.Response.Body, http.RequestAborted);
});

app.MapGet("/health", () => "ok");

app.Run();
