using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KlingGateway.Infrastructure;

namespace KlingGateway.Tests.Hostile;

/// <summary>
/// Every problem path answers application/problem+json with its catalog code whatever the caller's Accept header: a
/// browser's, an XML client's, an image tag's, none, one that refuses JSON, or garbage. Before the catalog's writer, a
/// non-JSON Accept turned a 401 or 429 into an empty 500.
/// </summary>
[Collection(nameof(HostileCollection))]
public sealed class AcceptHeaderTests(AcceptHeaderTests.Gateway gateway) : IClassFixture<AcceptHeaderTests.Gateway>
{
    public const string OpenKey = "accept-open-client-key-1b7e";
    public const string RateKey = "accept-rate-client-key-93f0";
    public const string InFlightKey = "accept-inflight-client-key-5c21";

    private const string Valid = """{"model":"kling-video/v1/pro/image-to-video","image_url":"https://example.com/a.png"}""";

    public static readonly string?[] Accepts =
    [
        null, "*/*", "application/json", "application/problem+json", "text/html",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", "application/xml", "image/png",
        "text/plain", "application/json;q=0", "application/problem+json;q=0, */*;q=0", ";;;,,,===", "*/*;q=abc",
        string.Join(",", Enumerable.Repeat("application/x-long", 400)),
    ];

    /// <summary>(name, method, target, key, content type, body, status, code) of each problem path.</summary>
    private static readonly (string Name, string Method, string Target, string? Key, string? ContentType, string? Body, int Status, string Code)[] Paths =
    [
        ("no credentials", "GET", "/v1/generations", null, null, null, 401, "unauthenticated"),
        ("an unknown key", "GET", "/v1/models", "no-such-key", null, null, 401, "invalid_credentials"),
        ("over the request rate", "GET", "/v1/models", RateKey, null, null, 429, "rate_limited"),
        ("over the in-flight limit", "POST", "/v1/generations", InFlightKey, "application/json", Valid, 429, "too_many_in_flight"),
        ("an invalid body", "POST", "/v1/generations", OpenKey, "application/json", """{"model":"x"}""", 400, "invalid_request"),
        ("a malformed body", "POST", "/v2/video/generations", OpenKey, "application/json", "{", 400, "malformed_json"),
        ("a bad query", "GET", "/v1/generations?limit=abc", OpenKey, null, null, 400, "invalid_query"),
        ("a bad compatible query", "GET", "/v2/generate/video/kling/generation", OpenKey, null, null, 400, "invalid_query"),
        ("no route", "GET", "/v1/nothing", OpenKey, null, null, 404, "route_not_found"),
        ("an unknown generation", "GET", "/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA", OpenKey, null, null, 404, "generation_not_found"),
        ("an unknown model", "GET", "/v1/models/kling-video/v9", OpenKey, null, null, 404, "model_not_found"),
        ("a wrong method", "DELETE", "/v1/models", OpenKey, null, null, 405, "method_not_allowed"),
        ("a body too large", "POST", "/v1/generations", OpenKey, "application/json", null, 413, "body_too_large"),
        ("not JSON", "POST", "/v1/generations", OpenKey, "text/plain", Valid, 415, "unsupported_media_type"),
        ("an upstream failure", "POST", "/v1/generations", OpenKey, "application/json",
            """{"model":"kling-video/v1/pro/image-to-video","image_url":"https://example.com/a.png","prompt":"[sim:create=500]"}""", 502, "upstream_error"),
        ("an upstream outage", "POST", "/v2/video/generations", OpenKey, "application/json",
            """{"model":"kling-video/v1/pro/image-to-video","image_url":"https://example.com/a.png","prompt":"[sim:create=503]"}""", 503, "upstream_unavailable"),
    ];

    public static TheoryData<string, int> Cases()
    {
        var cases = new TheoryData<string, int>();
        foreach (var path in Paths)
        {
            for (var accept = 0; accept < Accepts.Length; accept++)
            {
                cases.Add(path.Name, accept);
            }
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ProblemPath_AnswersProblemJsonWhateverTheAccept(string path, int accept)
    {
        var (_, method, target, key, contentType, body, status, code) = Paths.Single(p => p.Name == path);
        var headers = new List<KeyValuePair<string, string>>();
        if (Accepts[accept] is { } value)
        {
            headers.Add(new("Accept", value));
        }

        if (key is not null)
        {
            headers.Add(new("X-Api-Key", key));
        }

        if (contentType is not null)
        {
            headers.Add(new("Content-Type", contentType));
        }

        var bytes = body is null ? null : Encoding.UTF8.GetBytes(body);
        headers.Add(new("Content-Length", status == 413 ? "99999999999" : (bytes?.Length ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture)));

        var response = await RawHttp.SendAsync(gateway.Address, RawHttp.Head(method, target, headers), bytes is null ? null : RawHttp.Body(bytes));

        await AssertProblemAsync(response, status, code);
    }

    internal static Task AssertProblemAsync(RawResponse? response, int status, string code)
    {
        Assert.NotNull(response);
        Assert.True(response.Status == status, $"expected {status} {code}, got {response.Status}: {response.Text}");
        Assert.Equal("application/problem+json", response.Header("Content-Type")?.Split(';')[0]);
        var problem = JsonDocument.Parse(response.Body).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Equal(ProblemCatalog.Find(code)!.Title, problem.GetProperty("title").GetString());
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        return Task.CompletedTask;
    }

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>A gateway with no anonymous callers and three clients: one with no limits, one at 1 request a minute, one with 1 generation in flight.</summary>
    public sealed class Gateway() : KestrelGateway(new Dictionary<string, string?>
    {
        ["Auth:AllowAnonymous"] = "false",
        ["Auth:Clients:open:KeyHashes:0"] = Hash(OpenKey),
        ["Auth:Clients:rate:KeyHashes:0"] = Hash(RateKey),
        ["Auth:Clients:rate:RequestsPerMinute"] = "1",
        ["Auth:Clients:inflight:KeyHashes:0"] = Hash(InFlightKey),
        ["Auth:Clients:inflight:MaxInFlight"] = "1",
    }), IAsyncLifetime
    {
        async Task IAsyncLifetime.InitializeAsync()
        {
            await InitializeAsync();

            // The rate-limited client spends its one request of the minute; the other holds one generation in flight.
            var spent = await RawHttp.SendAsync(Address, RawHttp.Head("GET", "/v1/models", [new("X-Api-Key", RateKey)]));
            Assert.Equal(200, spent?.Status);
            var slow = Encoding.UTF8.GetBytes(Valid[..^1] + ""","prompt":"[sim:queued=600]"}""");
            var held = await RawHttp.SendAsync(Address, RawHttp.Head("POST", "/v1/generations",
                [new("X-Api-Key", InFlightKey), new("Content-Type", "application/json"), new("Content-Length", slow.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))]),
                RawHttp.Body(slow));
            Assert.Equal(202, held?.Status);
        }
    }
}

/// <summary>
/// The exception path: a ledger that has gone away (its directory deleted under a running gateway) is a 503
/// ledger_unavailable problem with Retry-After, whatever the Accept; the caller is told to retry, not that the
/// gateway broke.
/// </summary>
[Collection(nameof(HostileCollection))]
public sealed class ExceptionAcceptTests(ExceptionAcceptTests.Gateway gateway) : IClassFixture<ExceptionAcceptTests.Gateway>
{
    public static TheoryData<int> Accepts() => [.. Enumerable.Range(0, AcceptHeaderTests.Accepts.Length)];

    [Theory]
    [MemberData(nameof(Accepts))]
    public async Task AnUnavailableLedger_IsA503ProblemWhateverTheAccept(int accept)
    {
        List<KeyValuePair<string, string>> headers = AcceptHeaderTests.Accepts[accept] is { } value ? [new("Accept", value)] : [];

        var response = await RawHttp.SendAsync(gateway.Address, RawHttp.Head("GET", "/v1/generations", headers));

        await AcceptHeaderTests.AssertProblemAsync(response, 503, "ledger_unavailable");
        Assert.Equal("5", response!.Header("Retry-After"));
    }

    /// <summary>A gateway whose ledger directory is deleted once it has started.</summary>
    public sealed class Gateway() : KestrelGateway(new Dictionary<string, string?>
    {
        ["Ledger:Path"] = Path.Combine(Path.GetTempPath(), "kling-gateway-tests", $"vanishing-{Guid.NewGuid():N}", "ledger.db"),
    }), IAsyncLifetime
    {
        async Task IAsyncLifetime.InitializeAsync()
        {
            await InitializeAsync();
            Directory.Delete(Path.GetDirectoryName(Factory.LedgerPath)!, recursive: true);
            // Pooled connections would go on reading the deleted file; new ones find no directory.
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
    }
}

/// <summary>
/// When the bodies in progress fill <c>Gateway:MaxBufferedBodyBytes</c>, a create that finds no room waits, then is a
/// 503 gateway_busy problem with Retry-After, whatever the Accept. (Slow callers filling it over real sockets, in a
/// process with a hard heap limit, are in <c>BodyMemoryProcessTests</c>.)
/// </summary>
[Collection(nameof(HostileCollection))]
public sealed class BusyAcceptTests(BusyAcceptTests.Gateway gateway) : IClassFixture<BusyAcceptTests.Gateway>
{
    public static TheoryData<int> Accepts() => [.. Enumerable.Range(0, AcceptHeaderTests.Accepts.Length)];

    [Theory]
    [MemberData(nameof(Accepts))]
    public async Task AFullBudget_IsA503ProblemWithRetryAfterWhateverTheAccept(int accept)
    {
        var body = Encoding.UTF8.GetBytes("""{"model":"kling-video/v1/pro/image-to-video","image_url":"https://example.com/a.png"}""");
        var headers = new List<KeyValuePair<string, string>> { new("Content-Type", "application/json"), new("Content-Length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)) };
        if (AcceptHeaderTests.Accepts[accept] is { } value)
        {
            headers.Add(new("Accept", value));
        }

        var response = await RawHttp.SendAsync(gateway.Address, RawHttp.Head("POST", "/v1/generations", headers), RawHttp.Body(body));

        await AcceptHeaderTests.AssertProblemAsync(response, 503, "gateway_busy");
        Assert.Equal(BodyBufferBudget.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), response!.Header("Retry-After"));
        Assert.Equal(0, gateway.Factory.Simulator.CreateCount);
    }

    /// <summary>A gateway whose body budget is taken whole, as bodies still arriving would hold it.</summary>
    public sealed class Gateway() : KestrelGateway(new Dictionary<string, string?>
    {
        ["Gateway:MaxRequestBodyBytes"] = "1048576",
        ["Gateway:MaxBufferedBodyBytes"] = "3145728",
    }), IAsyncLifetime
    {
        async Task IAsyncLifetime.InitializeAsync()
        {
            await InitializeAsync();
            Assert.True(Budget.TryReserve(Budget.Limit));
        }

        async Task IAsyncLifetime.DisposeAsync()
        {
            Budget.Release(Budget.Limit);
            await DisposeAsync();
        }

        private BodyBufferBudget Budget => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<BodyBufferBudget>(Factory.Services);
    }
}
