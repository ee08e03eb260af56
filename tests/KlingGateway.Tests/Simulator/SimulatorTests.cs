using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KlingGateway.Simulator;
using Microsoft.Extensions.DependencyInjection;
using static KlingGateway.Tests.Simulator.SimulatorFixture;

namespace KlingGateway.Tests.Simulator;

public sealed class SimulatorTests(SimulatorFixture simulator) : IClassFixture<SimulatorFixture>
{
    private static readonly string[] AllModels =
    [
        "kling-video/v1/standard/image-to-video",
        "kling-video/v1/pro/image-to-video",
        "klingai/v2-master-image-to-video",
        "kling-video/v2.1/standard/image-to-video",
        "kling-video/v2.1/pro/image-to-video",
    ];

    private HttpClient Client => simulator.Client;

    // ---- Auth ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CreateWithWrongKey_Returns401WithUpstreamErrorBody(bool legacy)
    {
        using var response = await Client.SendAsync(CreateRequest(Body(), legacy, key: "not-the-key"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = await ReadJsonAsync(response);
        AssertErrorBody(body, 401, PathOf(legacy));
        Assert.StartsWith("This request requires a valid API key.", body["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task CreateWithoutKey_Returns401WithUpstreamErrorBody()
    {
        using var response = await Client.SendAsync(CreateRequest(Body(), key: null));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        AssertErrorBody(await ReadJsonAsync(response), 401, UniversalPath);
    }

    [Fact]
    public async Task CreateWithOtherScheme_Returns401()
    {
        using var request = CreateRequest(Body(), key: null);
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", ApiKey);
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task FetchWithWrongKey_Returns401EvenForAKnownId()
    {
        var id = await simulator.CreateAsync("queued=0,generating=0");

        using var response = await Client.SendAsync(FetchRequest(id, key: "wrong"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        AssertErrorBody(await ReadJsonAsync(response), 401, UniversalPath);
        Assert.Equal(0, simulator.State.FetchCount(id));
    }

    [Fact]
    public async Task KeyFromApiKeyFile_IsTheOneAccepted()
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, "  key-from-file\n");
            var (app, client) = await StartAsync(new SimulatorOptions { ApiKey = "ignored", ApiKeyFile = file });
            await using (app)
            using (client)
            {
                using var accepted = await client.SendAsync(CreateRequest(Body(), key: "key-from-file"));
                using var rejected = await client.SendAsync(CreateRequest(Body(), key: "ignored"));

                Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task InstantMode_EndsGenerationsAtOnceUnlessDirected_AndRecordsNothing()
    {
        var (app, client) = await StartAsync(new SimulatorOptions { ApiKey = ApiKey, Instant = true });
        await using (app)
        using (client)
        {
            var state = app.Services.GetRequiredService<SimulatorState>();
            var done = await CreatedIdAsync(client, Body());
            var waiting = await CreatedIdAsync(client, Body(prompt: "a cat [sim:queued=3600]"));

            using var doneAnswer = await client.SendAsync(FetchRequest(done));
            using var waitingAnswer = await client.SendAsync(FetchRequest(waiting));

            Assert.Equal("completed", (await ReadJsonAsync(doneAnswer))["status"]!.GetValue<string>());
            Assert.Equal("queued", (await ReadJsonAsync(waitingAnswer))["status"]!.GetValue<string>());
            Assert.Empty(state.Requests);
            Assert.Equal(2, state.CreateCount);
            Assert.Equal(1, state.FetchCount(waiting));
        }

        static async Task<string> CreatedIdAsync(HttpClient client, JsonObject body)
        {
            using var response = await client.SendAsync(CreateRequest(body));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await ReadJsonAsync(response))["id"]!.GetValue<string>();
        }
    }

    [Fact]
    public void MissingApiKeyFile_FailsAtBuildNamingTheSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            SimulatorApp.Build(new SimulatorOptions { ApiKeyFile = Path.Combine(Path.GetTempPath(), $"{Guid.NewGuid():N}.key") }));

        Assert.Contains("ApiKeyFile", error.Message);
    }

    // ---- Body validation ----

    [Fact]
    public async Task UnknownModel_Returns400ListingEveryAllowedId()
    {
        var body = Body();
        body["model"] = "kling-video/v9/imaginary";

        using var response = await Client.SendAsync(CreateRequest(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ReadJsonAsync(response);
        AssertErrorBody(error, 400, UniversalPath);
        var message = error["message"]!.GetValue<string>();
        Assert.StartsWith("Body validation error!", message);
        Assert.Contains("kling-video/v9/imaginary", message);
        Assert.All(AllModels, model => Assert.Contains($"'{model}'", message));
    }

    [Fact]
    public async Task MissingImageUrlAndModel_Returns400NamingBothFields()
    {
        using var response = await Client.SendAsync(CreateRequest(new JsonObject { ["prompt"] = "x" }, legacy: true));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var message = (await ReadJsonAsync(response))["message"]!.GetValue<string>();
        Assert.Contains("model: Required", message);
        Assert.Contains("image_url: Required", message);
    }

    [Fact]
    public async Task NonStringImageUrl_Returns400NamingTheType()
    {
        var body = Body();
        body["image_url"] = 42;

        using var response = await Client.SendAsync(CreateRequest(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("image_url: Expected string, received number", (await ReadJsonAsync(response))["message"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("[1,2]", "array")]
    [InlineData("{not json", "invalid JSON")]
    public async Task BodyNotAnObject_Returns400(string json, string named)
    {
        using var request = CreateRequest(Body());
        request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(named, (await ReadJsonAsync(response))["message"]!.GetValue<string>());
    }

    // ---- Create ----

    [Theory]
    [InlineData("kling-video/v1/standard/image-to-video", "^[A-Za-z0-9_-]{21}$")]
    [InlineData("kling-video/v1/pro/image-to-video", "^[A-Za-z0-9_-]{21}$")]
    [InlineData("klingai/v2-master-image-to-video", "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:kling-video/v2/master/image-to-video$")]
    [InlineData("kling-video/v2.1/standard/image-to-video", "^[1-9][0-9]{17}$")]
    [InlineData("kling-video/v2.1/pro/image-to-video", "^[1-9][0-9]{17}$")]
    public async Task CreateForModel_IdFollowsThatFamilysFormat(string model, string pattern)
    {
        var first = await simulator.CreateAsync("", model);
        var second = await simulator.CreateAsync("", model, legacy: true);

        Assert.Matches(new Regex(pattern), first);
        Assert.Matches(new Regex(pattern), second);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task UniversalCreate_Returns200Queued()
    {
        using var response = await Client.SendAsync(CreateRequest(Body()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await ReadJsonAsync(response);
        Assert.Equal("queued", body["status"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(body["id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task LegacyCreate_Returns201Queued()
    {
        using var response = await Client.SendAsync(CreateRequest(Body(V21Pro), legacy: true));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await ReadJsonAsync(response);
        Assert.Equal("queued", body["status"]!.GetValue<string>());
        Assert.Matches("^[0-9]{18}$", body["id"]!.GetValue<string>());
    }

    // ---- Progression and completed answer ----

    [Fact]
    public async Task ShortTimings_ProgressQueuedThenGeneratingThenCompleted()
    {
        // Windows wide enough that a poll every 25 ms cannot skip one on a busy machine.
        var id = await simulator.CreateAsync("queued=0.4,generating=0.8");

        var statuses = await simulator.PollStatusesAsync(id, "queued", "generating");

        Assert.Equal(["queued", "generating", "completed"], statuses);
    }

    [Fact]
    public async Task QueuedForAnHour_StaysQueuedWithoutVideo()
    {
        var id = await simulator.CreateAsync("queued=3600");

        var (response, body) = await simulator.FetchAsync(id);
        response.Dispose();

        Assert.Equal("queued", body["status"]!.GetValue<string>());
        Assert.Null(body["video"]);
        Assert.Null(body["meta"]);
    }

    [Fact]
    public async Task NoQueueAndAnHourGenerating_ReportsGenerating()
    {
        var id = await simulator.CreateAsync("queued=0,generating=3600");

        var (response, body) = await simulator.FetchAsync(id);
        response.Dispose();

        Assert.Equal("generating", body["status"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(false, "credits_used", 120000)]
    [InlineData(true, "tokens_used", 1207500)]
    public async Task CompletedGeneration_HasVideoFieldsAndUsageKeyOfItsRouteFamily(bool legacy, string usageKey, int usage)
    {
        var id = await simulator.CreateAsync("queued=0,generating=0", V2Master, legacy);

        // Fetched on the other family's route: the usage key follows the route it was created on.
        var (response, body) = await simulator.FetchAsync(id, legacy: !legacy);
        response.Dispose();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(id, body["id"]!.GetValue<string>());
        Assert.Equal("completed", body["status"]!.GetValue<string>());
        var video = body["video"]!.AsObject();
        Assert.Equal("video/mp4", video["content_type"]!.GetValue<string>());
        Assert.Equal("output.mp4", video["file_name"]!.GetValue<string>());
        Assert.True(video["file_size"]!.GetValue<int>() > 0);
        Assert.StartsWith($"{Client.BaseAddress!.GetLeftPart(UriPartial.Authority)}/files/", video["url"]!.GetValue<string>());
        var usageObject = body["meta"]!["usage"]!.AsObject();
        Assert.Equal(usage, usageObject[usageKey]!.GetValue<int>());
        Assert.Single(usageObject);
        Assert.Null(body["error"]);
    }

    [Fact]
    public async Task CompletedVideoUrl_ServesMp4BytesOfTheAnnouncedSize()
    {
        var id = await simulator.CreateAsync("queued=0,generating=0");
        var (response, body) = await simulator.FetchAsync(id);
        response.Dispose();
        var video = body["video"]!;

        using var download = await Client.GetAsync(new Uri(video["url"]!.GetValue<string>()));

        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal("video/mp4", download.Content.Headers.ContentType?.MediaType);
        var bytes = await download.Content.ReadAsByteArrayAsync();
        Assert.Equal(video["file_size"]!.GetValue<int>(), bytes.Length);
        // An ISO base media file starts with its 'ftyp' box.
        Assert.Equal("ftyp", Encoding.ASCII.GetString(bytes, 4, 4));
    }

    [Fact]
    public async Task VideoFileRangeRequest_Returns206WithThatSlice()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/files/any.mp4");
        request.Headers.Range = new RangeHeaderValue(0, 7);
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(8, (await response.Content.ReadAsByteArrayAsync()).Length);
    }

    [Fact]
    public async Task VideoFileHead_AnswersTheHeadersWithoutABody()
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, "/files/any.mp4");
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("video/mp4", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Content.Headers.ContentLength > 0);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task PublicBaseUrl_IsTheBaseOfVideoLinks()
    {
        var (app, client) = await StartAsync(new SimulatorOptions
        {
            ApiKey = ApiKey,
            PublicBaseUrl = "https://videos.example.test/sim/",
            QueuedFor = TimeSpan.Zero,
            GeneratingFor = TimeSpan.Zero,
        });
        await using (app)
        using (client)
        {
            using var created = await client.SendAsync(CreateRequest(Body()));
            var id = (await ReadJsonAsync(created))["id"]!.GetValue<string>();
            using var fetched = await client.SendAsync(FetchRequest(id));
            var body = await ReadJsonAsync(fetched);

            Assert.Equal("completed", body["status"]!.GetValue<string>());
            Assert.StartsWith("https://videos.example.test/sim/files/", body["video"]!["url"]!.GetValue<string>());
        }
    }

    // ---- Fetch errors ----

    [Fact]
    public async Task FetchUnknownId_Returns404WithErrorBody()
    {
        var (response, body) = await simulator.FetchAsync("no-such-generation");
        response.Dispose();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        AssertErrorBody(body, 404, UniversalPath);
        Assert.Equal("Not Found", body["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task FetchWithoutGenerationId_Returns400NamingTheParameter()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, LegacyPath);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await ReadJsonAsync(response);
        AssertErrorBody(body, 400, LegacyPath);
        Assert.Contains("generation_id", body["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task IdWithColonAndSlash_RoundTripsThroughTheEncodedQuery()
    {
        var id = await simulator.CreateAsync("queued=0,generating=0", V2Master);
        Assert.Contains(':', id);
        Assert.Contains('/', id);

        var (response, body) = await simulator.FetchAsync(id);
        response.Dispose();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(id, body["id"]!.GetValue<string>());
        Assert.Equal(id, Assert.Single(response.Headers.GetValues("x-inference-id")));
        var recorded = simulator.State.Requests.Last(r => r.Method == "GET" && r.QueryString.Contains(Uri.EscapeDataString(id), StringComparison.Ordinal));
        Assert.Contains("%2F", recorded.QueryString, StringComparison.OrdinalIgnoreCase);
    }

    // ---- Create fault directives ----

    [Theory]
    [InlineData(400, "Body validation error!")]
    [InlineData(401, "This request requires a valid API key. You can create a new API key on the Billing page: https://aimlapi.com/app/keys")]
    [InlineData(403, "You've run out of credits. Please top up your balance or update your payment method to continue: https://aimlapi.com/app/billing/")]
    [InlineData(404, "Not Found")]
    [InlineData(429, "Too Many Requests")]
    [InlineData(500, "Internal server error")]
    [InlineData(502, "Bad Gateway")]
    [InlineData(503, "Service unavailable")]
    [InlineData(504, "Generation timeout")]
    public async Task CreateFaultDirective_AnswersThatStatusWithTheDocumentedErrorBody(int status, string message)
    {
        var marker = Guid.NewGuid().ToString("N");
        using var response = await Client.SendAsync(CreateRequest(Body(prompt: $"{marker} [sim:create={status}]"), legacy: status % 2 == 0));

        Assert.Equal(status, (int)response.StatusCode);
        var body = await ReadJsonAsync(response);
        AssertErrorBody(body, status, PathOf(status % 2 == 0));
        Assert.Equal(message, body["message"]!.GetValue<string>());
        Assert.Null(body["id"]);
        Assert.False(response.Headers.Contains("Retry-After"));
        Assert.Contains(simulator.State.Requests, r => r.Body.Contains(marker, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(429)]
    [InlineData(503)]
    public async Task RetryAfterDirective_AddsRetryAfterTo429And503(int status)
    {
        using var response = await Client.SendAsync(CreateRequest(Body(prompt: $"a cat [sim:create={status},retry-after=3]")));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task RetryAfterDirectiveOn500_AddsNoRetryAfter()
    {
        using var response = await Client.SendAsync(CreateRequest(Body(prompt: "[sim:create=500,retry-after=3]")));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Null(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task StatusAsStringDirective_SendsStatusCodeAsString()
    {
        using var response = await Client.SendAsync(CreateRequest(Body(prompt: "[sim:create=429,status-as-string]")));

        var statusCode = (await ReadJsonAsync(response))["statusCode"]!;
        Assert.Equal(JsonValueKind.String, statusCode.GetValueKind());
        Assert.Equal("429", statusCode.GetValue<string>());
    }

    [Fact]
    public async Task CreateMalformedDirective_Answers200WithUnparseableJson()
    {
        using var response = await Client.SendAsync(CreateRequest(Body(prompt: "[sim:create=malformed]")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith("{", text);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(text));
    }

    [Fact]
    public async Task CreateDelayDirective_DelaysTheAnswer()
    {
        var clock = Stopwatch.StartNew();
        using var response = await Client.SendAsync(CreateRequest(Body(prompt: "[sim:create-delay=0.3]")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(280), $"answered after {clock.Elapsed}");
    }

    [Fact]
    public async Task CreateDelayDirective_IsAbandonedWhenTheCallerGoesAway()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Client.SendAsync(CreateRequest(Body(prompt: "[sim:create-delay=600]")), cancel.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));

        // The simulator still answers normally afterwards.
        using var response = await Client.SendAsync(CreateRequest(Body()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ScenarioHeader_WorksWithoutAPromptToken()
    {
        using var request = CreateRequest(Body());
        request.Headers.Add("X-Simulator-Scenario", "create=503,retry-after=7");
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task UnknownDirective_IsIgnored()
    {
        var id = await simulator.CreateAsync("no-such-thing=1,create=999,queued=0,generating=0");

        var (response, body) = await simulator.FetchAsync(id);
        response.Dispose();

        Assert.Equal("completed", body["status"]!.GetValue<string>());
    }

    // ---- Fetch fault directives ----

    [Fact]
    public async Task Fetch503x2_FailsTwiceThenAnswersNormally()
    {
        var id = await simulator.CreateAsync("fetch=503x2,queued=0,generating=0");

        var statuses = new List<int>();
        for (var i = 0; i < 4; i++)
        {
            var (response, _) = await simulator.FetchAsync(id);
            statuses.Add((int)response.StatusCode);
            response.Dispose();
        }

        Assert.Equal([503, 503, 200, 200], statuses);
        Assert.Equal(4, simulator.State.FetchCount(id));
    }

    [Theory]
    [InlineData(429)]
    [InlineData(404)]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    public async Task FetchFaultWithoutCount_FailsEveryFetch(int status)
    {
        var id = await simulator.CreateAsync($"fetch={status},queued=0,generating=0");

        for (var i = 0; i < 3; i++)
        {
            var (response, body) = await simulator.FetchAsync(id);
            response.Dispose();
            Assert.Equal(status, (int)response.StatusCode);
            AssertErrorBody(body, status, UniversalPath);
        }
    }

    [Fact]
    public async Task FetchMalformed_Answers200WithUnparseableJson()
    {
        var id = await simulator.CreateAsync("fetch=malformed");

        using var response = await Client.SendAsync(FetchRequest(id));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(text));
    }

    [Fact]
    public async Task FetchDelay_DelaysEachFetch()
    {
        var id = await simulator.CreateAsync("fetch-delay=0.25");

        var clock = Stopwatch.StartNew();
        var (response, _) = await simulator.FetchAsync(id);
        response.Dispose();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(230), $"answered after {clock.Elapsed}");
    }

    [Fact]
    public async Task FetchRetryAfter_ComesFromTheCreateDirectives()
    {
        var id = await simulator.CreateAsync("fetch=429x1,retry-after=2");

        var (response, _) = await simulator.FetchAsync(id);
        response.Dispose();

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), response.Headers.RetryAfter?.Delta);
    }

    // ---- Status words and outcomes ----

    [Fact]
    public async Task LegacyWords_AreWaitingThenActive()
    {
        using var created = await Client.SendAsync(CreateRequest(Body(prompt: "[sim:words=legacy,queued=3600]")));
        var waitingId = (await ReadJsonAsync(created))["id"]!.GetValue<string>();
        var activeId = await simulator.CreateAsync("words=legacy,queued=0,generating=3600");

        var (waiting, waitingBody) = await simulator.FetchAsync(waitingId);
        var (active, activeBody) = await simulator.FetchAsync(activeId);
        waiting.Dispose();
        active.Dispose();

        Assert.Equal("waiting", waitingBody["status"]!.GetValue<string>());
        Assert.Equal("active", activeBody["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task OutcomeErrorName_EndsAsErrorWithNameAndMessage()
    {
        var body = await FinalAnswerAsync("outcome=error-name");

        Assert.Equal("error", body["status"]!.GetValue<string>());
        Assert.Equal("GenerationError", body["error"]!["name"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(body["error"]!["message"]!.GetValue<string>()));
        Assert.Null(body["video"]);
    }

    [Fact]
    public async Task OutcomeErrorDetail_EndsAsErrorWithPydanticDetail()
    {
        var body = await FinalAnswerAsync("outcome=error-detail");

        Assert.Equal("error", body["status"]!.GetValue<string>());
        var detail = Assert.Single(body["error"]!["detail"]!.AsArray())!;
        Assert.Equal(["body", "image_url"], detail["loc"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("face_detection_error", detail["type"]!.GetValue<string>());
        Assert.Equal(ImageUrl, detail["input"]!.GetValue<string>());
        Assert.Null(body["video"]);
    }

    [Fact]
    public async Task OutcomeErrorText_EndsAsErrorWithABareString()
    {
        var body = await FinalAnswerAsync("outcome=error-text");

        Assert.Equal("error", body["status"]!.GetValue<string>());
        Assert.Equal(JsonValueKind.String, body["error"]!.GetValueKind());
    }

    [Fact]
    public async Task OutcomeFailed_EndsWithTheWordFailed()
    {
        var body = await FinalAnswerAsync("outcome=failed");

        Assert.Equal("failed", body["status"]!.GetValue<string>());
        Assert.NotNull(body["error"]!["message"]);
        Assert.Null(body["video"]);
    }

    [Fact]
    public async Task OutcomeComplete_EndsWithTheWordCompleteAndAVideo()
    {
        var body = await FinalAnswerAsync("outcome=complete");

        Assert.Equal("complete", body["status"]!.GetValue<string>());
        Assert.NotNull(body["video"]!["url"]);
    }

    [Fact]
    public async Task OutcomeStatusWord_EndsWithThatLiteralWordAndNoVideo()
    {
        var body = await FinalAnswerAsync("outcome=status:cancelled");

        Assert.Equal("cancelled", body["status"]!.GetValue<string>());
        Assert.Null(body["video"]);
    }

    [Fact]
    public async Task OutcomeBeforeGeneratingEnds_IsNotYetVisible()
    {
        var id = await simulator.CreateAsync("outcome=error-name,queued=0,generating=3600");

        var (response, body) = await simulator.FetchAsync(id);
        response.Dispose();

        Assert.Equal("generating", body["status"]!.GetValue<string>());
        Assert.Null(body["error"]);
    }

    // ---- Tracing headers ----

    [Fact]
    public async Task ValidClientRequestId_IsEchoedAndInferenceIdIsSet()
    {
        var clientRequestId = $"req.{Guid.NewGuid():N}:1-a_b";
        using var request = CreateRequest(Body());
        request.Headers.Add("X-Client-Request-Id", clientRequestId);
        using var response = await Client.SendAsync(request);

        Assert.Equal(clientRequestId, Assert.Single(response.Headers.GetValues("x-client-request-id")));
        Assert.False(string.IsNullOrEmpty(Assert.Single(response.Headers.GetValues("x-inference-id"))));
    }

    [Fact]
    public async Task ClientRequestIdOnAnError_IsEchoedToo()
    {
        using var request = CreateRequest(Body(), key: "wrong");
        request.Headers.Add("X-Client-Request-Id", "abc");
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("abc", Assert.Single(response.Headers.GetValues("x-client-request-id")));
        Assert.True(response.Headers.Contains("x-inference-id"));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("slash/not-allowed")]
    public async Task InvalidClientRequestId_IsDropped(string clientRequestId)
    {
        using var request = CreateRequest(Body());
        request.Headers.TryAddWithoutValidation("X-Client-Request-Id", clientRequestId);
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("x-client-request-id"));
    }

    [Fact]
    public async Task OverlongClientRequestId_IsDropped()
    {
        using var request = CreateRequest(Body());
        request.Headers.Add("X-Client-Request-Id", new string('a', 129));
        using var response = await Client.SendAsync(request);

        Assert.False(response.Headers.Contains("x-client-request-id"));
    }

    // ---- Recording and inspection ----

    [Fact]
    public async Task UpstreamRequests_AreRecordedWithHeadersAndBody()
    {
        var marker = Guid.NewGuid().ToString("N");
        var createsBefore = simulator.State.CreateCount;
        using var request = CreateRequest(Body(prompt: marker), legacy: true);
        request.Headers.Add("X-Client-Request-Id", marker);
        using var response = await Client.SendAsync(request);
        var id = (await ReadJsonAsync(response))["id"]!.GetValue<string>();
        var (fetched, _) = await simulator.FetchAsync(id, legacy: true);
        fetched.Dispose();

        var create = Assert.Single(simulator.State.Requests, r => r.Headers.TryGetValue("x-client-request-id", out var v) && v == marker);
        Assert.Equal("POST", create.Method);
        Assert.Equal(LegacyPath, create.Path);
        Assert.Equal($"Bearer {ApiKey}", create.Headers["authorization"]);
        Assert.Equal(marker, JsonNode.Parse(create.Body)!["prompt"]!.GetValue<string>());
        Assert.True(simulator.State.CreateCount > createsBefore);
        Assert.Contains(simulator.State.Requests, r => r.Method == "GET" && r.QueryString == $"?generation_id={Uri.EscapeDataString(id)}");
        Assert.Equal(1, simulator.State.FetchCount(id));
    }

    [Fact]
    public async Task BodyOverOneMegabyte_IsRecordedAsSizeAndHash()
    {
        var body = Body(prompt: "[sim:queued=3600]");
        body["image_url"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(900_000));
        var json = body.ToJsonString();
        using var request = CreateRequest(body);
        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var bytes = Encoding.UTF8.GetBytes(json);
        var expected = $"<{bytes.Length} bytes, sha256 {Convert.ToHexString(SHA256.HashData(bytes))}>";
        Assert.Contains(simulator.State.Requests, r => r.Body == expected);
    }

    [Fact]
    public async Task InspectionEndpoints_ListRequestsAndCountFetchesWithoutAKey()
    {
        var id = await simulator.CreateAsync("queued=3600", V2Master);
        for (var i = 0; i < 3; i++)
        {
            var (response, _) = await simulator.FetchAsync(id);
            response.Dispose();
        }

        var count = JsonNode.Parse(await Client.GetStringAsync($"/_simulator/generations/fetch-count?generation_id={Uri.EscapeDataString(id)}"))!;
        var requests = JsonNode.Parse(await Client.GetStringAsync("/_simulator/requests"))!.AsArray();

        Assert.Equal(3, count["fetches"]!.GetValue<int>());
        Assert.Contains(requests, r => r!["queryString"]!.GetValue<string>().Contains(Uri.EscapeDataString(id), StringComparison.Ordinal));
    }

    [Fact]
    public async Task ClearingState_ForgetsRequestsAndCountersButKeepsGenerations()
    {
        var (app, client) = await StartAsync(new SimulatorOptions { ApiKey = ApiKey, QueuedFor = TimeSpan.Zero, GeneratingFor = TimeSpan.Zero });
        await using (app)
        using (client)
        {
            using var created = await client.SendAsync(CreateRequest(Body()));
            var id = (await ReadJsonAsync(created))["id"]!.GetValue<string>();
            using var fetched = await client.SendAsync(FetchRequest(id));
            var state = app.Services.GetService(typeof(SimulatorState)) as SimulatorState;
            Assert.NotNull(state);
            Assert.Equal(2, state.Requests.Count);
            Assert.Equal(1, state.CreateCount);

            using var cleared = await client.DeleteAsync("/_simulator/requests");

            Assert.True(cleared.IsSuccessStatusCode);
            Assert.Empty(state.Requests);
            Assert.Equal(0, state.CreateCount);
            Assert.Equal(0, state.FetchCount(id));
            using var again = await client.SendAsync(FetchRequest(id));
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
    }

    [Fact]
    public async Task RecordedRequests_KeepOnlyTheLast500()
    {
        var (app, client) = await StartAsync(new SimulatorOptions { ApiKey = ApiKey });
        await using (app)
        using (client)
        {
            for (var i = 0; i < SimulatorState.MaxRecordedRequests + 5; i++)
            {
                using var response = await client.SendAsync(FetchRequest($"missing-{i}"));
            }

            var state = (SimulatorState)app.Services.GetService(typeof(SimulatorState))!;
            var requests = state.Requests;
            Assert.Equal(SimulatorState.MaxRecordedRequests, requests.Count);
            Assert.EndsWith("missing-504", requests[^1].QueryString);
            Assert.EndsWith("missing-5", requests[0].QueryString);
        }
    }

    [Fact]
    public async Task UnknownRoute_Returns404WithTheUpstreamErrorBody()
    {
        using var response = await Client.PutAsync(UniversalPath, new StringContent("{}"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        AssertErrorBody(await ReadJsonAsync(response), 404, UniversalPath);
    }

    private async Task<JsonObject> FinalAnswerAsync(string directives)
    {
        var id = await simulator.CreateAsync($"{directives},queued=0,generating=0");
        var (response, body) = await simulator.FetchAsync(id);
        response.Dispose();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return body;
    }

    private static void AssertErrorBody(JsonObject body, int status, string path)
    {
        Assert.False(string.IsNullOrWhiteSpace(body["message"]?.GetValue<string>()));
        Assert.Equal(path, body["path"]!.GetValue<string>());
        Assert.True(Guid.TryParse(body["requestId"]!.GetValue<string>(), out _));
        Assert.Equal(status, body["statusCode"]!.GetValue<int>());
        Assert.True(DateTimeOffset.TryParse(body["timestamp"]!.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _));
    }
}
