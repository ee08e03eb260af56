using System.Text;
using KlingGateway.Models;
using KlingGateway.Tests.Validation;

namespace KlingGateway.Tests.Hostile;

/// <summary>What a hostile case must be answered with. Every answer is below 500 whatever is expected here.</summary>
/// <param name="Status">The status, when one is certain.</param>
/// <param name="Code">The problem code, when one is certain.</param>
/// <param name="ErrorKey">A key the problem's <c>errors</c> must hold (the JSON path or parameter it names).</param>
/// <param name="MaySucceed">A 2xx is a right answer too (the request is odd but valid).</param>
/// <param name="KestrelOwn">
/// Kestrel answers before any application code runs (a malformed request line or header): its own status with an
/// empty body, which the gateway cannot change (README, "Limits on input").
/// </param>
public sealed record Expectation(int? Status = null, string? Code = null, string? ErrorKey = null, bool MaySucceed = false, bool KestrelOwn = false);

/// <summary>One hostile request, as bytes on the wire.</summary>
public sealed record HostileCase(string Name, string Method, string Target, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[]? Body, Expectation Expect)
{
    /// <summary>Sent with Transfer-Encoding: chunked instead of Content-Length.</summary>
    public bool Chunked { get; init; }

    /// <summary>For a body of filler: the Content-Length announced (or null with chunked) and the bytes written.</summary>
    public (long? Announced, long Written)? Filler { get; init; }

    /// <summary>The create route the body goes to, for checking the work of parsing and validating it directly.</summary>
    public CreateRoute? Route { get; init; }
}

/// <summary>
/// The hostile table: malformed and truncated JSON, wrong content types, deep nesting, 60 MB bodies, invalid UTF-8 and
/// lone surrogates, numbers at and past every range, duplicate keys, oversized collections, forged images, control
/// characters in URLs and ids, duplicated headers, long, traversal-like and SQL-like ids, and raw malformed HTTP, on
/// every route.
/// </summary>
public static class HostileCases
{
    public const string V1Pro = "kling-video/v1/pro/image-to-video";

    /// <summary>Stands in a target for a real generation's video link (path and query, with its token).</summary>
    public const string VideoLink = "{video-link}";
    private const string Url = "https://example.com/first.png";

    private static readonly (string Path, CreateRoute Route)[] CreateRoutes =
    [
        ("/v1/generations", CreateRoute.Gateway),
        ("/v2/video/generations", CreateRoute.Universal),
        ("/v2/generate/video/kling/generation", CreateRoute.Legacy),
    ];

    private static readonly KeyValuePair<string, string>[] Json = [new("Content-Type", "application/json")];

    private static readonly Lazy<IReadOnlyDictionary<string, HostileCase>> Cases = new(() => Build().ToDictionary(c => c.Name, StringComparer.Ordinal));

    public static IReadOnlyDictionary<string, HostileCase> All => Cases.Value;

    public static TheoryData<string> Names()
    {
        var names = new TheoryData<string>();
        foreach (var name in All.Keys)
        {
            names.Add(name);
        }

        return names;
    }

    private static IEnumerable<HostileCase> Build()
    {
        foreach (var (path, route) in CreateRoutes)
        {
            var full = route == CreateRoute.Gateway;
            foreach (var (name, body, expect) in Bodies(full))
            {
                yield return new HostileCase($"POST {path}: {name}", "POST", path, Json, body, expect) { Route = route };
            }

            foreach (var @case in Transport(path, route))
            {
                yield return @case;
            }
        }

        foreach (var @case in Reads())
        {
            yield return @case;
        }

        foreach (var @case in RawRequests())
        {
            yield return @case;
        }
    }

    private static Expectation Invalid(string? key = null) => new(400, "invalid_request", key);

    private static readonly Expectation Malformed = new(400, "malformed_json");

    private static string Body(string fields = "") =>
        fields.Length == 0 ? $$"""{"model":"{{V1Pro}}","image_url":"{{Url}}"}""" : $$"""{"model":"{{V1Pro}}","image_url":"{{Url}}",{{fields}}}""";

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Text whose characters U+0080..U+00FF stand for single raw bytes (to write invalid UTF-8).</summary>
    private static byte[] Raw(string text) => Encoding.Latin1.GetBytes(text);

    private static string Repeat(string item, int count) => string.Join(",", Enumerable.Repeat(item, count));

    private static string Mask(string mask = Url, string? trajectories = null) =>
        $$"""{"mask":"{{mask}}","trajectories":{{trajectories ?? """[{"x":1,"y":1},{"x":2,"y":2}]"""}}}""";

    private static IEnumerable<(string Name, byte[] Body, Expectation Expect)> Bodies(bool full)
    {
        // Malformed and truncated JSON.
        yield return ("empty body", [], Malformed);
        yield return ("whitespace body", Utf8(" \r\n\t "), Malformed);
        yield return ("truncated string", Utf8("""{"model":"kling"""), Malformed);
        yield return ("truncated after colon", Utf8("""{"model":"""), Malformed);
        yield return ("truncated object", Utf8(Body()[..^1]), Malformed);
        yield return ("trailing comma", Utf8(Body()[..^1] + ",}"), Malformed);
        yield return ("single quotes", Utf8("{'model':'x'}"), Malformed);
        yield return ("comment", Utf8(Body()[..^1] + " /* c */}"), Malformed);
        yield return ("NaN literal", Utf8(Body("\"cfg_scale\":NaN")), Malformed);
        yield return ("Infinity literal", Utf8(Body("\"cfg_scale\":Infinity")), Malformed);
        yield return ("negative Infinity literal", Utf8(Body("\"cfg_scale\":-Infinity")), Malformed);
        yield return ("two documents", Utf8(Body() + Body()), Malformed);
        yield return ("NUL bytes", [0, 0, 0, 0], Malformed);
        yield return ("unquoted name", Utf8("{model:1}"), Malformed);
        yield return ("raw newline in a string", Utf8(Body("\"prompt\":\"a\nb\"")), Malformed);
        yield return ("bad escape", Utf8(Body("\"prompt\":\"\\q\"")), Malformed);
        yield return ("short unicode escape", Utf8(Body("\"prompt\":\"\\u12\"")), Malformed);
        yield return ("array body", Utf8("[1,2]"), new(400, "not_an_object"));
        yield return ("string body", Utf8("\"x\""), new(400, "not_an_object"));
        yield return ("null body", Utf8("null"), new(400, "not_an_object"));
        yield return ("number body", Utf8("42"), new(400, "not_an_object"));
        yield return ("UTF-8 byte order mark", [0xEF, 0xBB, 0xBF, .. Utf8(Body())], new(MaySucceed: true));
        yield return ("UTF-16 body", Encoding.Unicode.GetBytes(Body()), Malformed);

        // Nesting.
        yield return ("arrays nested 10,000 deep", Utf8($"{{\"prompt\":{new string('[', 10_000)}{new string(']', 10_000)}}}"), Malformed);
        yield return ("objects nested 10,000 deep", Utf8(string.Concat(Enumerable.Repeat("{\"a\":", 10_000)) + "1" + new string('}', 10_000)), Malformed);
        yield return ("arrays nested 33 deep", Utf8($"{{\"prompt\":{new string('[', 32)}{new string(']', 32)}}}"), Malformed);
        yield return ("arrays nested 31 deep", Utf8(Body($"\"prompt\":{new string('[', 30)}{new string(']', 30)}")), Invalid("prompt"));

        // Invalid UTF-8 and lone surrogates, in values and names.
        yield return ("invalid UTF-8 in prompt", Raw(Body("\"prompt\":\"caf\u00ff\"")), Invalid("prompt"));
        yield return ("invalid UTF-8 in image_url", Raw("{\"model\":\"" + V1Pro + "\",\"image_url\":\"https://example.com/\u00c3\u0028.png\"}"), Invalid("image_url"));
        yield return ("invalid UTF-8 in model", Raw("{\"model\":\"kling\u00fe\",\"image_url\":\"" + Url + "\"}"), Invalid("model"));
        yield return ("invalid UTF-8 in a name", Raw(Body("\"pr\u00ffompt\":\"x\"")), Invalid("$"));
        yield return ("invalid UTF-8 in a mask", Raw(Body($"\"dynamic_masks\":[{Mask("https://example.com/\u00e2\u0082.png")}]")), Invalid("dynamic_masks[0].mask"));
        yield return ("overlong UTF-8 slash", Raw(Body("\"prompt\":\"\u00c0\u00af\"")), Invalid("prompt"));
        yield return ("UTF-8 encoded surrogate", Raw(Body("\"prompt\":\"\u00ed\u00a0\u0080\"")), Invalid("prompt"));
        yield return ("5-byte UTF-8 sequence", Raw(Body("\"prompt\":\"\u00f8\u0088\u0080\u0080\u0080\"")), Invalid("prompt"));
        yield return ("UTF-8 cut at the string's end", Raw(Body("\"prompt\":\"a\u00e2\u0082\"")), Invalid("prompt"));
        yield return ("lone high surrogate escape", Utf8(Body("\"prompt\":\"\\ud800\"")), Invalid("prompt"));
        yield return ("lone low surrogate escape", Utf8(Body("\"negative_prompt\":\"\\udfff x\"")), Invalid("negative_prompt"));
        yield return ("reversed surrogate pair", Utf8(Body("\"prompt\":\"\\udc00\\ud800\"")), Invalid("prompt"));
        yield return ("lone surrogate in image_url", Utf8($$"""{"model":"{{V1Pro}}","image_url":"https://example.com/\ud83d.png"}"""), Invalid("image_url"));

        // Duplicate keys.
        yield return ("model twice", Utf8(Body($"\"model\":\"{V1Pro}\"")), Invalid("model"));
        yield return ("image_url twice", Utf8(Body("\"image_url\":\"ftp://x\"")), Invalid("image_url"));
        yield return ("prompt twice", Utf8(Body("\"prompt\":\"a\",\"prompt\":\"b\"")), Invalid("prompt"));
        yield return ("camera type twice", Utf8(Body("\"camera_control\":{\"type\":\"simple\",\"type\":\"simple\",\"config\":{\"zoom\":1}}")), Invalid("camera_control.type"));
        yield return ("camera key twice", Utf8(Body("\"camera_control\":{\"type\":\"simple\",\"config\":{\"zoom\":1,\"zoom\":2}}")), Invalid("camera_control.config.zoom"));
        yield return ("mask twice in an item", Utf8(Body($"\"dynamic_masks\":[{{\"mask\":\"{Url}\",\"mask\":\"{Url}\",\"trajectories\":[{{\"x\":1,\"y\":1}},{{\"x\":2,\"y\":2}}]}}]")), Invalid("dynamic_masks[0].mask"));
        yield return ("x twice in a point", Utf8(Body(Masks(Mask(trajectories: """[{"x":1,"x":2,"y":1},{"x":2,"y":2}]""")))), Invalid("dynamic_masks[0].trajectories[0].x"));

        // Oversized collections.
        yield return ("40,000 masks", Utf8(Body(Masks(Repeat(Mask(), 40_000)))), Invalid("dynamic_masks"));
        yield return ("100,000 trajectory points", Utf8(Body(Masks(Mask(trajectories: "[" + Repeat("{\"x\":1,\"y\":1}", 100_000) + "]")))), Invalid("dynamic_masks[0].trajectories"));
        yield return ("100,000 unknown fields", Utf8(Body(string.Join(",", Enumerable.Range(0, 100_000).Select(i => $"\"f{i}\":1")))), Invalid("$"));
        yield return ("100,000 camera keys", Utf8(Body($"\"camera_control\":{{\"type\":\"simple\",\"config\":{{{Repeat("\"zoom\":1", 100_000)}}}}}")), Invalid("camera_control.config"));
        yield return ("a million array items in prompt", Utf8(Body($"\"prompt\":[{Repeat("0", 1_000_000)}]")), Invalid("prompt"));
        yield return ("7 masks", Utf8(Body(Masks(Repeat(Mask(), 7)))), Invalid("dynamic_masks"));
        yield return ("78 points", Utf8(Body(Masks(Mask(trajectories: "[" + Repeat("{\"x\":1,\"y\":1}", 78) + "]")))), Invalid("dynamic_masks[0].trajectories"));

        // Long text and names.
        yield return ("prompt of 2,501 characters", Utf8(Body($"\"prompt\":\"{new string('a', 2501)}\"")), Invalid("prompt"));
        yield return ("prompt of 10 MB", Utf8(Body($"\"prompt\":\"{new string('a', 10_000_000)}\"")), Invalid("prompt"));
        yield return ("model of 1 MB", Utf8($$"""{"model":"{{new string('m', 1_000_000)}}","image_url":"{{Url}}"}"""), Invalid("model"));
        yield return ("field name of 1 MB", Utf8(Body($"\"{new string('n', 1_000_000)}\":1")), Invalid(new string('n', 64) + "…"));
        yield return ("2,500 emoji", Utf8(Body($"\"prompt\":\"{string.Concat(Enumerable.Repeat("\U0001F600", 2500))}\"")), new(MaySucceed: true));

        // Forged images.
        yield return ("PNG header alone claiming 2147483647 px", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.PngHeaderOnly(int.MaxValue, int.MaxValue))}\"")), Invalid("tail_image_url"));
        yield return ("PNG data too small for its size", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.PngWithData(16000, 16000, 500))}\"")), Invalid("tail_image_url"));
        yield return ("truncated PNG", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.PngTruncated(640, 480, 1000))}\"")), Invalid("tail_image_url"));
        yield return ("JPEG header alone", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.JpegHeaderOnly(65535, 65535))}\"")), Invalid("tail_image_url"));
        yield return ("JPEG scan too small", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.JpegWithScan(65535, 65535, 100))}\"")), Invalid("tail_image_url"));
        yield return ("PNG of 20000 px", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.Png(20000, 400))}\"")), Invalid("tail_image_url"));
        yield return ("GIF", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.Gif())}\"")), Invalid("tail_image_url"));
        yield return ("PNG declared JPEG", Utf8(Body($"\"tail_image_url\":\"{TestImages.DataUri("image/jpeg", TestImages.Png(640, 480))}\"")), Invalid("tail_image_url"));
        yield return ("base64 garbage", Utf8(Body("\"tail_image_url\":\"!!!!\"")), Invalid("tail_image_url"));
        yield return ("image of 11 MB", Utf8(Body($"\"tail_image_url\":\"{TestImages.Base64(TestImages.Png(1000, 1000, 11 * 1024 * 1024))}\"")), Invalid("tail_image_url"));

        // URLs.
        foreach (var (what, url) in new[]
        {
            ("CR LF", "https://example.com/a.png\\r\\nX-Injected: 1"), ("space", "https://example.com/a b.png"),
            ("tab", "https://example.com/a\\tb.png"), ("NUL", "https://example.com/a\\u0000.png"), ("DEL", "https://example.com/a\u007f.png"),
            ("line separator", "https://example.com/a\u2028.png"), ("bidi override", "https://example.com/\u202egnp.exe"),
            ("backslash", "https://evil.example\\\\@good.example/a.png"), ("credentials", "https://user:pass@example.com/a.png"),
            ("9,000 bytes", "https://example.com/" + new string('a', 9_000)), ("javascript scheme", "javascript:alert(1)"),
            ("file scheme", "file:///etc/passwd"), ("no host", "https://"), ("scheme-relative", "//example.com/a.png"),
        })
        {
            yield return ($"image_url with {what}", Utf8($$"""{"model":"{{V1Pro}}","image_url":"{{url}}"}"""), Invalid("image_url"));
        }

        // Types and ids.
        yield return ("model as a number", Utf8($$"""{"model":1,"image_url":"{{Url}}"}"""), Invalid("model"));
        yield return ("image_url as an object", Utf8($$$"""{"model":"{{{V1Pro}}}","image_url":{"url":"{{{Url}}}"}}"""), Invalid("image_url"));
        yield return ("unknown model", Utf8($$"""{"model":"kling-video/v9/image-to-video","image_url":"{{Url}}"}"""), Invalid("model"));
        yield return ("no fields", Utf8("{}"), Invalid("model"));
        yield return ("external_task_id with a control character", Utf8(Body("\"external_task_id\":\"order\\u0000-7\"")), new(400, "invalid_request"));
        yield return ("external_task_id SQL-like", Utf8(Body("\"external_task_id\":\"'; DROP TABLE generations; --\"")), new(MaySucceed: true));

        // Numbers at and past every range, in every numeric field (all of them on the gateway's own route).
        var values = full ? Numbers : Numbers.Take(6);
        foreach (var (what, number, valid) in values)
        {
            yield return ($"duration {what}", Utf8(Body($"\"duration\":{number}")), valid.Duration ? new(MaySucceed: true) : Invalid("duration"));
            yield return ($"cfg_scale {what}", Utf8(Body($"\"cfg_scale\":{number}")), valid.CfgScale ? new(MaySucceed: true) : Invalid("cfg_scale"));
            // A zero or null zoom leaves simple without its one movement: a fault of config, not of zoom.
            yield return ($"camera zoom {what}", Utf8(Body($"\"camera_control\":{{\"type\":\"simple\",\"config\":{{\"zoom\":{number}}}}}")),
                valid.Zoom ? new(MaySucceed: true) : Invalid());
            yield return ($"trajectory x {what}", Utf8(Body(Masks(Mask(trajectories: $"[{{\"x\":{number},\"y\":1}},{{\"x\":2,\"y\":2}}]")))),
                valid.Coordinate ? new(MaySucceed: true) : Invalid("dynamic_masks[0].trajectories[0].x"));
        }
    }

    private static string Masks(string items) => $"\"dynamic_masks\":[{items}]";

    private readonly record struct Valid(bool Duration, bool CfgScale, bool Zoom, bool Coordinate);

    /// <summary>JSON numbers (and things that are not) and where each is valid.</summary>
    private static readonly (string What, string Json, Valid Valid)[] Numbers =
    [
        ("1e400", "1e400", new(false, false, false, false)),
        ("-1e400", "-1e400", new(false, false, false, false)),
        ("a 100,000-digit integer", new string('9', 100_000), new(false, false, false, false)),
        ("-1", "-1", new(false, false, true, true)),
        ("1.5", "1.5", new(false, false, true, false)),
        ("string NaN", "\"NaN\"", new(false, false, false, false)),
        ("1e-400", "1e-400", new(false, true, false, true)),
        ("-0", "-0", new(false, true, false, true)),
        ("5", "5", new(true, false, true, true)),
        ("5.0", "5.0", new(true, false, true, true)),
        ("5.000000000000001", "5.000000000000001", new(false, false, true, false)),
        ("10e0", "10e0", new(true, false, true, true)),
        ("string 5", "\"5\"", new(true, false, false, false)),
        ("string Infinity", "\"Infinity\"", new(false, false, false, false)),
        ("0.5", "0.5", new(false, true, true, false)),
        ("1", "1", new(false, true, true, true)),
        ("1.0000000000000002", "1.0000000000000002", new(false, false, true, false)),
        ("10", "10", new(true, false, true, true)),
        ("10.5", "10.5", new(false, false, false, false)),
        ("-10.000001", "-10.000001", new(false, false, false, false)),
        ("2147483648", "2147483648", new(false, false, false, false)),
        ("-2147483648", "-2147483648", new(false, false, false, true)),
        ("1e308", "1e308", new(false, false, false, false)),
        ("0.5 with a million zeros", "0.5" + new string('0', 1_000_000), new(false, true, true, false)),
        ("true", "true", new(false, false, false, false)),
        ("null", "null", new(true, true, false, false)),
        ("an array", "[5]", new(false, false, false, false)),
        ("an object", "{\"value\":5}", new(false, false, false, false)),
    ];

    /// <summary>Content types, 60 MB bodies, methods and headers on a create route.</summary>
    private static IEnumerable<HostileCase> Transport(string path, CreateRoute route)
    {
        var body = Utf8(Body());
        HostileCase Post(string name, IEnumerable<KeyValuePair<string, string>> headers, byte[]? content, Expectation expect) =>
            new($"POST {path}: {name}", "POST", path, [.. headers], content, expect) { Route = route };

        yield return Post("Content-Type text/plain", [new("Content-Type", "text/plain")], body, new(415, "unsupported_media_type"));
        yield return Post("no Content-Type", [], body, new(415, "unsupported_media_type"));
        yield return Post("empty Content-Type", [new("Content-Type", "")], body, new(415, "unsupported_media_type"));
        yield return Post("form Content-Type", [new("Content-Type", "application/x-www-form-urlencoded")], Utf8("model=x"), new(415, "unsupported_media_type"));
        yield return Post("multipart Content-Type", [new("Content-Type", "multipart/form-data; boundary=x")], Utf8("--x--"), new(415, "unsupported_media_type"));
        yield return Post("application/jsonx", [new("Content-Type", "application/jsonx")], body, new(415, "unsupported_media_type"));
        yield return Post("Content-Type twice", [new("Content-Type", "application/json"), new("Content-Type", "text/plain")], body, new(415, "unsupported_media_type"));
        yield return Post("Content-Type with a control character", [new("Content-Type", "application/json\u0001")], body, new(415, "unsupported_media_type"));
        yield return Post("+json Content-Type", [new("Content-Type", "application/vnd.kling+json")], body, new(MaySucceed: true));
        yield return Post("charset utf-16 on a UTF-8 body", [new("Content-Type", "application/json; charset=utf-16")], body, new(MaySucceed: true));
        yield return new HostileCase($"POST {path}: 60 MB with Content-Length", "POST", path, Json, Utf8("{\"prompt\":\""), new(413, "body_too_large"))
        {
            Route = route, Filler = (60_000_000, 60_000_000),
        };
        yield return new HostileCase($"POST {path}: 60 MB chunked", "POST", path, Json, Utf8("{\"prompt\":\""), new(413, "body_too_large"))
        {
            Route = route, Filler = (null, 60_000_000), Chunked = true,
        };
        yield return new HostileCase($"POST {path}: Content-Length of 48 MB + 1", "POST", path, Json, Utf8("{\"prompt\":\""), new(413, "body_too_large"))
        {
            Route = route, Filler = (48L * 1024 * 1024 + 1, 48L * 1024 * 1024 + 1),
        };
        yield return Post("Idempotency-Key with a control character", [.. Json, new("Idempotency-Key", "key\u0001one")], body, new(400, "invalid_idempotency_key"));
        yield return Post("Idempotency-Key of 300 characters", [.. Json, new("Idempotency-Key", new string('k', 300))], body, new(400, "invalid_idempotency_key"));
        yield return Post("Idempotency-Key twice", [.. Json, new("Idempotency-Key", "one"), new("Idempotency-Key", "two")], body, new(400, "invalid_idempotency_key"));
        yield return Post("X-Api-Key twice", [.. Json, new("X-Api-Key", "a"), new("X-Api-Key", "b")], body, new(401, "invalid_credentials"));
        yield return Post("X-Client-Request-Id with CR", [.. Json, new("X-Client-Request-Id", "id\rX: y")], body, new(KestrelOwn: true, Status: 400));
        yield return Post("X-Client-Request-Id SQL-like", [.. Json, new("X-Client-Request-Id", "' OR 1=1 --")], body, new(MaySucceed: true));
        yield return Post("Accept twice", [.. Json, new("Accept", "text/html"), new("Accept", "image/png")], Utf8("{"), Malformed);
        foreach (var method in new[] { "PUT", "DELETE", "PATCH" })
        {
            yield return new HostileCase($"{method} {path}", method, path, Json, body, new(405, "method_not_allowed"));
        }
    }

    /// <summary>Status, list, compatible reads, models and usage, with hostile ids and queries.</summary>
    private static IEnumerable<HostileCase> Reads()
    {
        HostileCase Get(string target, Expectation expect, string? name = null) =>
            new($"GET {name ?? target}", "GET", target, [], null, expect);

        var notFound = new Expectation(404, "generation_not_found");
        string[] ids =
        [
            new string('a', 7_000), "gen_" + new string('A', 22) + "x", "gen_AAAAAAAAAAAAAAAAAAAA%21%21", "..%2F..%2Fetc%2Fpasswd",
            "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "....%2F%2F....%2F%2Fetc", "gen_'%20OR%20'1'%3D'1", "1%3BDROP%20TABLE%20generations--",
            "gen_AAAAAAAAAAAAAAAAAAAAA'", "%0d%0aX-Injected:%201", "%1b%5b31m", "%FF%FE", "%C0%AF", "%E2%80%AE", "%F0%9F%98%80",
            "gen_%00AAAAAAAAAAAAAAAAAAAAA",
        ];
        foreach (var id in ids)
        {
            var shown = id.Length > 60 ? $"{id[..20]}… ({id.Length} characters)" : id;
            // Kestrel refuses a path that decodes to NUL itself.
            yield return Get($"/v1/generations/{id}", id.Contains("%00", StringComparison.Ordinal) ? new(KestrelOwn: true, Status: 400) : notFound,
                $"/v1/generations/{shown}");
            yield return Get($"/v2/video/generations?generation_id={id}", notFound, $"/v2/video/generations?generation_id={shown}");
            yield return Get($"/v2/generate/video/kling/generation?generation_id={id}", notFound, $"/v2/generate/video/kling/generation?generation_id={shown}");
        }

        yield return Get("/v1/generations/%00", new(KestrelOwn: true, Status: 400));
        yield return Get("/v1/generations/../../etc/passwd", new(404, "route_not_found"));
        yield return Get("/v2/video/generations?generation_id=", new(400, "invalid_query", "generation_id"));
        yield return Get("/v2/video/generations?generation_id=%20%20", new(400, "invalid_query", "generation_id"));
        yield return Get("/v2/video/generations?generation_id=a&generation_id=b", notFound);

        foreach (var limit in new[] { "0", "-1", "101", "1e400", "abc", "%FF", "1.5", "99999999999999999999", "%201", "", "0x10", "1%00" })
        {
            yield return Get($"/v1/generations?limit={limit}", new(400, "invalid_query", "limit"));
        }

        yield return Get("/v1/generations?limit=1&limit=2", new(400, "invalid_query", "limit"));
        yield return Get("/v1/generations?status=%FF", new(400, "invalid_query", "status"));
        yield return Get("/v1/generations?status=succeeded'--", new(400, "invalid_query", "status"));
        yield return Get($"/v1/generations?model={new string('m', 5_000)}", new(400, "invalid_query", "model"), "/v1/generations?model=(5,000 characters)");
        yield return Get("/v1/generations?cursor=garbage", new(400, "invalid_query", "cursor"));
        yield return Get($"/v1/generations?cursor={new string('A', 6_000)}", new(400, "invalid_query", "cursor"), "/v1/generations?cursor=(6,000 characters)");
        yield return Get("/v1/generations?cursor=%00%FF", new(400, "invalid_query", "cursor"));
        yield return Get("/v1/generations?unknown=1&%FF=%FF", new(MaySucceed: true));

        foreach (var days in new[] { "0", "91", "-7", "1e400", "abc", "7.0", "%FF", "99999999999999999999" })
        {
            yield return Get($"/v1/usage?days={days}", new(400, "invalid_query", "days"));
        }

        yield return Get("/v1/usage?days=1&days=2", new(400, "invalid_query", "days"));

        foreach (var id in new[] { "kling-video/v9/image-to-video", "..%2F..%2Fetc%2Fpasswd", "%FF", "%00", "%25", new string('m', 7_000), "' OR 1=1 --".Replace(" ", "%20", StringComparison.Ordinal) })
        {
            var expect = id == "%00" ? new Expectation(KestrelOwn: true, Status: 400) : new Expectation(404, "model_not_found");
            yield return Get($"/v1/models/{id}", expect, $"/v1/models/{(id.Length > 60 ? "(7,000 characters)" : id)}");
        }

        // A generation's video: hostile ids and tokens, and hostile Range and conditional headers on a real video.
        foreach (var id in new[] { "gen_AAAAAAAAAAAAAAAAAAAAAA", "..%2F..%2Fetc%2Fpasswd", "%FF%FE", new string('g', 7_000), "gen_'%20OR%201=1--" })
        {
            yield return Get($"/v1/generations/{id}/content", new(404, "generation_not_found"),
                $"/v1/generations/{(id.Length > 60 ? "(7,000 characters)" : id)}/content");
        }

        foreach (var token in new[] { "x", "9999999999.AAAA", "1.%00", "%0d%0a", "99999999999999999999.x", new string('t', 5_000), "'%20OR%201=1--", "4102444800.%FF%FE", "4102444800.!!!!" })
        {
            yield return Get($"/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA/content?token={token}", new(403, "invalid_video_link"),
                $"/v1/generations/…/content?token={(token.Length > 60 ? "(5,000 characters)" : token)}");
        }

        HostileCase Video(string name, Expectation expect, params (string Name, string Value)[] headers) =>
            new($"GET a video with {name}", "GET", VideoLink, [.. headers.Select(h => KeyValuePair.Create(h.Name, h.Value))], null, expect);
        yield return Video("Range: bytes=abc", new(MaySucceed: true), ("Range", "bytes=abc"));
        yield return Video("a Range past its end", new(416, "range_not_satisfiable"), ("Range", "bytes=99999999999-"));
        yield return Video("a Range past long", new(MaySucceed: true), ("Range", "bytes=0-99999999999999999999999"));
        yield return Video("1,000 ranges", new(MaySucceed: true), ("Range", "bytes=" + string.Join(",", Enumerable.Range(0, 1_000).Select(i => $"{i}-{i}"))));
        yield return Video("Range twice", new(MaySucceed: true), ("Range", "bytes=0-1"), ("Range", "bytes=2-3"));
        yield return Video("a junk If-None-Match", new(MaySucceed: true), ("If-None-Match", "\u0001\"x"));
        yield return Video("If-Match that cannot match", new(412, "precondition_failed"), ("If-Match", "\"nope\""));
        yield return Video("a junk If-Modified-Since", new(MaySucceed: true), ("If-Modified-Since", "yesterday"));
        yield return new HostileCase("HEAD a video", "HEAD", VideoLink, [], null, new(MaySucceed: true));
        yield return new HostileCase("POST a video", "POST", VideoLink, Json, Utf8("{}"), new(405, "method_not_allowed"));

        yield return Get("/v1/nothing-here", new(404, "route_not_found"));
        yield return Get("/v1/generations/gen_AAAAAAAAAAAAAAAAAAAAAA/extra", new(404, "route_not_found"));
        yield return new HostileCase("POST /v1/models", "POST", "/v1/models", Json, Utf8("{}"), new(405, "method_not_allowed"));
        yield return new HostileCase("DELETE /v1/usage", "DELETE", "/v1/usage", [], null, new(405, "method_not_allowed"));
        yield return new HostileCase("OPTIONS /v1/generations", "OPTIONS", "/v1/generations", [], null, new(405, "method_not_allowed"));
        yield return new HostileCase("TRACE /v1/models", "TRACE", "/v1/models", [], null, new(405, "method_not_allowed"));
        yield return new HostileCase("FOO /v1/models", "FOO", "/v1/models", [], null, new(405, "method_not_allowed"));
        yield return new HostileCase("GET /v1/models with X-Api-Key twice", "GET", "/v1/models", [new("X-Api-Key", "a"), new("X-Api-Key", "b")], null, new(401, "invalid_credentials"));
        // Kestrel refuses header values that are not ASCII itself.
        yield return new HostileCase("GET /v1/models with a non-ASCII Authorization", "GET", "/v1/models", [new("Authorization", "Bearer \u00ff\u00fe")], null, new(KestrelOwn: true, Status: 400));
        yield return new HostileCase("GET /v1/models with Authorization twice", "GET", "/v1/models", [new("Authorization", "Bearer a"), new("Authorization", "Basic b")], null, new(MaySucceed: true));
        yield return new HostileCase("GET /v1/models with an 8 KB header", "GET", "/v1/models", [new("X-Filler", new string('f', 8_000))], null, new(MaySucceed: true));
    }

    /// <summary>Malformed HTTP that Kestrel refuses itself, and bodies whose framing is broken.</summary>
    private static IEnumerable<HostileCase> RawRequests()
    {
        HostileCase Raw(string name, string method, string target, Expectation expect, params (string Name, string Value)[] headers) =>
            new($"raw: {name}", method, target, [.. headers.Select(h => KeyValuePair.Create(h.Name, h.Value))], null, expect);

        var kestrel400 = new Expectation(KestrelOwn: true, Status: 400);
        yield return Raw("garbage method", "G(T", "/v1/models", kestrel400);
        yield return Raw("target without a slash", "GET", "v1/models", kestrel400);
        yield return Raw("absolute-form target", "GET", "http://evil.example/v1/models", kestrel400);
        yield return Raw("CONNECT", "CONNECT", "127.0.0.1:80", kestrel400);
        yield return Raw("NUL in the path", "GET", "/v1/gen\0", kestrel400);
        yield return Raw("space in the path", "GET", "/v1/gen erations", kestrel400);
        yield return Raw("URI of 10,000 bytes", "GET", "/v1/generations/" + new string('a', 10_000), new(KestrelOwn: true, Status: 414));
        yield return Raw("headers of 40 KB", "GET", "/v1/models", new(KestrelOwn: true, Status: 431),
            [.. Enumerable.Range(0, 5).Select(i => ($"X-H{i}", new string('v', 8_000)))]);
        yield return Raw("Host twice", "GET", "/v1/models", kestrel400, ("Host", "other"));
        yield return Raw("header without a colon", "GET", "/v1/models", kestrel400, ("X-Broken", "x"), ("NoColonHere\r\nX", "y"));
        yield return Raw("header name with a space", "GET", "/v1/models", kestrel400, ("X Broken", "x"));
        yield return Raw("two different Content-Lengths", "POST", "/v1/generations", kestrel400,
            ("Content-Type", "application/json"), ("Content-Length", "2"), ("Content-Length", "3"));
        yield return Raw("negative Content-Length", "POST", "/v1/generations", kestrel400, ("Content-Type", "application/json"), ("Content-Length", "-1"));
        yield return Raw("Content-Length past long", "POST", "/v1/generations", kestrel400,
            ("Content-Type", "application/json"), ("Content-Length", "99999999999999999999999"));
        yield return Raw("Content-Length of 99 GB", "POST", "/v1/generations", new(413, "body_too_large"),
            ("Content-Type", "application/json"), ("Content-Length", "99999999999"));
        yield return Raw("unknown Transfer-Encoding", "POST", "/v1/generations", kestrel400, ("Content-Type", "application/json"), ("Transfer-Encoding", "gzip"));
        yield return new HostileCase("raw: malformed chunk size", "POST", "/v1/generations", [.. Json, new("Transfer-Encoding", "chunked")],
            Encoding.ASCII.GetBytes("ZZ\r\n{}\r\n0\r\n\r\n"), new(400, "malformed_json")) { Route = CreateRoute.Gateway };
        yield return new HostileCase("raw: chunk longer than its size", "POST", "/v1/generations", [.. Json, new("Transfer-Encoding", "chunked")],
            Encoding.ASCII.GetBytes("2\r\n{}xx\r\n0\r\n\r\n"), new(400, "malformed_json")) { Route = CreateRoute.Gateway };
        yield return new HostileCase("raw: HTTP/9.9", "GET", "/v1/models HTTP/9.9\r\nX-Ignore:", [], null, new(KestrelOwn: true, Status: 505));
    }
}
