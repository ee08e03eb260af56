using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;

namespace KlingGateway.Simulator;

/// <summary>The simulated AI/ML API routes: create and fetch on both families, and the video files.</summary>
internal static class UpstreamApi
{
    public const string UniversalPath = "/v2/video/generations";
    public const string LegacyPath = "/v2/generate/video/kling/generation";

    public static IEndpointRouteBuilder MapUpstream(this IEndpointRouteBuilder app)
    {
        var upstream = app.MapGroup("").AddEndpointFilter<RequestRecordingFilter>();

        upstream.MapPost(UniversalPath, (HttpContext http, [AsParameters] UpstreamServices services) =>
                CreateAsync(http, RouteFamily.Universal, services))
            .WithName("SimulatedUniversalCreate")
            .WithSummary("Creates a simulated generation (universal route, answers 200).");
        upstream.MapGet(UniversalPath, (HttpContext http, [AsParameters] UpstreamServices services) =>
                FetchAsync(http, services))
            .WithName("SimulatedUniversalFetch")
            .WithSummary("Fetches a simulated generation (universal route).");
        upstream.MapPost(LegacyPath, (HttpContext http, [AsParameters] UpstreamServices services) =>
                CreateAsync(http, RouteFamily.Legacy, services))
            .WithName("SimulatedLegacyCreate")
            .WithSummary("Creates a simulated generation (legacy Kling route, answers 201).");
        upstream.MapGet(LegacyPath, (HttpContext http, [AsParameters] UpstreamServices services) =>
                FetchAsync(http, services))
            .WithName("SimulatedLegacyFetch")
            .WithSummary("Fetches a simulated generation (legacy Kling route).");

        // Video links need no key, as the upstream's CDN links need none.
        app.MapMethods("/files/{name}.mp4", [HttpMethods.Get, HttpMethods.Head], VideoFiles.ServeAsync)
            .WithName("SimulatedVideoFile")
            .WithSummary("Serves the video a completed generation links to (the sample, or as its video directives say).");

        return app;
    }

    internal sealed class UpstreamServices
    {
        [FromServices]
        public required SimulatorState State { get; init; }

        [FromServices]
        public required UpstreamSettings Settings { get; init; }

        [FromServices]
        public required TimeProvider Time { get; init; }

        [FromServices]
        public required ILogger<SimulatorState> Logger { get; init; }
    }

    private static async Task<IResult> CreateAsync(HttpContext http, RouteFamily family, UpstreamServices services)
    {
        services.State.CountCreate();
        var (body, bodyProblem) = ParseBody(http);
        var scenario = Scenario.From(
            http.Request.Headers[Scenario.HeaderName].ToString(),
            body?["prompt"] is JsonValue prompt && prompt.TryGetValue<string>(out var text) ? text : null,
            services.Logger);

        if (!services.Settings.IsAuthorized(http.Request))
        {
            return Fail(http, 401, scenario, services);
        }

        var named = body?["model"] is JsonValue modelValue && modelValue.TryGetValue<string>(out var modelName) ? modelName : "unknown";
        if (scenario.CreateDelay is { } delay && !await DelayAsync(http, delay, services.Logger))
        {
            // The caller left before anything started: the request fails, and its hold is rolled back.
            LogUsage(http, services, scenario, named, null, null);
            return Results.Empty;
        }

        if (scenario.CreateFault is { IsMalformed: false, StatusCode: { } status })
        {
            LogUsage(http, services, scenario, named, null, null);
            return Fail(http, status, scenario, services);
        }

        var problems = bodyProblem is null ? Validate(body!) : [bodyProblem];
        if (problems.Count > 0)
        {
            LogUsage(http, services, scenario, named, null, null);
            return Fail(http, 400, scenario, services, $"{UpstreamErrors.ValidationPrefix} {string.Join("; ", problems)}");
        }

        var model = body!["model"]!.GetValue<string>();
        var generation = new SimulatedGeneration(
            SimulatedModels.NewGenerationId(model),
            model,
            // Kept as the fetch answer shows it: a 7 MB data URL held whole by each of the newest 10,000
            // generations ran the simulator out of memory in the full benchmark.
            Abbreviate(body["image_url"]!.GetValue<string>()),
            family,
            scenario,
            services.Time.GetUtcNow(),
            scenario.Queued ?? services.Settings.QueuedFor,
            scenario.Generating ?? services.Settings.GeneratingFor);
        services.State.Add(generation);
        Log.Created(services.Logger, generation.Id, model, family);
        LogUsage(http, services, scenario, model, generation.Id, VideoSeconds(body) * UsageLogApi.UsdPerVideoSecond);
        if (scenario.AnswerDelay is { } answerDelay && !await DelayAsync(http, answerDelay, services.Logger))
        {
            // Started and billed, but the caller never learns the id: what a gateway killed mid-create leaves upstream.
            return Results.Empty;
        }

        var answer = new JsonObject
        {
            ["id"] = generation.Id,
            ["status"] = scenario.LegacyWords ? "waiting" : "queued",
        };
        if (scenario.CreateFault is { IsMalformed: true })
        {
            // The generation exists (the upstream started paid work) but its id never reaches the caller whole.
            return UpstreamErrors.Truncated(answer);
        }

        // The current spec answers 200; the legacy route's older spec answered 201 (docs/upstream.md, "Routes").
        return Results.Json(answer, statusCode: family == RouteFamily.Universal ? StatusCodes.Status200OK : StatusCodes.Status201Created);
    }

    private static async Task<IResult> FetchAsync(HttpContext http, UpstreamServices services)
    {
        var header = http.Request.Headers[Scenario.HeaderName].ToString();
        var requestScenario = Scenario.From(header, prompt: null, services.Logger);
        if (!services.Settings.IsAuthorized(http.Request))
        {
            return Fail(http, 401, requestScenario, services);
        }

        var id = http.Request.Query["generation_id"].ToString();
        if (id.Length == 0)
        {
            return Fail(http, 400, requestScenario, services, $"{UpstreamErrors.ValidationPrefix} generation_id: Required");
        }

        // On poll routes the inference id is the generation id sent (docs/capabilities/request-tracing-and-cost.md).
        if (IsHeaderSafe(id))
        {
            http.Response.Headers[UpstreamHeaders.InferenceId] = id;
        }

        var generation = services.State.Find(id);
        if (generation is null)
        {
            LogUsage(http, services, requestScenario, "unknown", null, null);
            return Fail(http, 404, requestScenario, services);
        }

        var number = generation.CountFetch();
        services.State.CountFetch();
        var scenario = generation.Scenario.With(header, services.Logger);
        if (scenario.FetchDelay is { } delay && !await DelayAsync(http, delay, services.Logger))
        {
            return Results.Empty;
        }

        var answer = Describe(generation, scenario, services.Time.GetUtcNow(), VideoBase(http, services.Settings));
        var failing = scenario.FetchFault is { } fault && (fault.Times is null || number <= fault.Times);
        LogUsage(http, services, requestScenario, generation.Model, generation.Id, failing ? null : 0m);
        if (failing && scenario.FetchFault is { } fetchFault)
        {
            return fetchFault.StatusCode is { } status
                ? Fail(http, status, scenario, services)
                : UpstreamErrors.Truncated(answer);
        }

        return Results.Json(answer);
    }

    /// <summary>The fetch answer <c>{id, status, video?, error?, meta?}</c> at this moment of the generation's life.</summary>
    private static JsonObject Describe(SimulatedGeneration generation, Scenario scenario, DateTimeOffset now, string videoBase)
    {
        var answer = new JsonObject { ["id"] = generation.Id };
        switch (generation.PhaseAt(now))
        {
            case GenerationPhase.Queued:
                answer["status"] = scenario.LegacyWords ? "waiting" : "queued";
                return answer;
            case GenerationPhase.Generating:
                answer["status"] = scenario.LegacyWords ? "active" : "generating";
                return answer;
        }

        var outcome = scenario.Outcome;
        switch (outcome.Kind)
        {
            case OutcomeKind.Completed:
            case OutcomeKind.Complete:
                answer["status"] = outcome.Kind == OutcomeKind.Complete ? "complete" : "completed";
                answer["video"] = new JsonObject
                {
                    ["url"] = $"{videoBase}/files/{generation.FileName}",
                    ["content_type"] = SampleVideo.ContentType,
                    ["file_name"] = "output.mp4",
                    ["file_size"] = SampleVideo.Bytes.Length,
                };
                // credits_used in the current specs, tokens_used in the legacy one (docs/upstream.md, "Statuses").
                answer["meta"] = new JsonObject
                {
                    ["usage"] = generation.Family == RouteFamily.Universal
                        ? new JsonObject { ["credits_used"] = 120000 }
                        : new JsonObject { ["tokens_used"] = 1207500 },
                };
                break;
            case OutcomeKind.ErrorName:
                answer["status"] = "error";
                answer["error"] = NamedError();
                break;
            case OutcomeKind.Failed:
                answer["status"] = "failed";
                answer["error"] = NamedError();
                break;
            case OutcomeKind.ErrorDetail:
                // The shape of a real Kling effects failure (docs/upstream.md, "Statuses"), not the spec's {name, message}.
                answer["status"] = "error";
                answer["error"] = new JsonObject
                {
                    ["detail"] = new JsonArray(new JsonObject
                    {
                        ["loc"] = new JsonArray("body", "image_url"),
                        ["msg"] = "Could not detect face in the image",
                        ["type"] = "face_detection_error",
                        ["input"] = generation.ImageUrl,
                    }),
                };
                break;
            case OutcomeKind.ErrorText:
                answer["status"] = "error";
                answer["error"] = "Generation failed";
                break;
            case OutcomeKind.Status:
                answer["status"] = outcome.Word;
                break;
            default:
                throw new InvalidOperationException($"Unknown outcome {outcome.Kind}.");
        }

        return answer;
    }

    /// <summary>
    /// Adds the request to the usage log: succeeded with <paramref name="costUsd"/>, or failed (null) at no cost. Left
    /// out when the create asked (<c>log=omit</c>), and in instant mode.
    /// </summary>
    private static void LogUsage(HttpContext http, UpstreamServices services, Scenario scenario, string model, string? generationId, decimal? costUsd)
    {
        if (scenario.OmitFromLog || !services.Settings.RecordsRequests)
        {
            return;
        }

        var requestId = Guid.NewGuid().ToString("D");
        services.State.AddToUsageLog(new UsageLogEntry(
            services.Time.GetUtcNow(),
            costUsd is null ? "failed" : "succeeded",
            model,
            costUsd ?? 0m,
            requestId,
            generationId ?? requestId,
            UpstreamHeaders.ClientRequestIdOf(http.Request)));
    }

    /// <summary>The body's duration, 5 or 10 as a number or a string; 5 when absent, as the upstream defaults.</summary>
    private static int VideoSeconds(JsonObject body) => body["duration"] switch
    {
        JsonValue value when value.TryGetValue<int>(out var number) => number,
        JsonValue value when value.TryGetValue<string>(out var text) && int.TryParse(text, System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => 5,
    };

    private static JsonObject NamedError() => new()
    {
        ["name"] = "GenerationError",
        ["message"] = "The generation failed upstream.",
    };

    private static string Abbreviate(string input) => input.Length <= 200 ? input : $"{input[..64]}...";

    private static (JsonObject? Body, string? Problem) ParseBody(HttpContext http)
    {
        var bytes = http.Features.Get<BufferedBody>()?.Bytes ?? [];
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(bytes);
        }
        catch (JsonException)
        {
            return (null, "body: Expected object, received invalid JSON");
        }

        return node is JsonObject body ? (body, null) : (null, $"body: Expected object, received {KindOf(node)}");
    }

    /// <summary>The upstream's own checks: a known model and a string image_url (zod-style messages, docs/upstream.md, "Errors").</summary>
    private static List<string> Validate(JsonObject body)
    {
        var problems = new List<string>();
        var model = body["model"];
        if (model is null)
        {
            problems.Add("model: Required");
        }
        else if (model.GetValueKind() != JsonValueKind.String || !SimulatedModels.IsKnown(model.GetValue<string>()))
        {
            var received = model.GetValueKind() == JsonValueKind.String ? model.GetValue<string>() : model.ToJsonString();
            var expected = string.Join(" | ", SimulatedModels.Ids.Select(id => $"'{id}'"));
            problems.Add($"model: Invalid enum value. Expected {expected}, received '{received}'");
        }

        var imageUrl = body["image_url"];
        if (imageUrl is null)
        {
            problems.Add("image_url: Required");
        }
        else if (imageUrl.GetValueKind() != JsonValueKind.String)
        {
            problems.Add($"image_url: Expected string, received {KindOf(imageUrl)}");
        }

        return problems;
    }

    private static string KindOf(JsonNode? node) => node?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "null",
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "unknown",
    };

    private static IResult Fail(HttpContext http, int status, Scenario scenario, UpstreamServices services, string? message = null)
    {
        Log.Failing(services.Logger, status, http.Request.Method, http.Request.Path.Value ?? "/");
        return UpstreamErrors.Answer(http, status, scenario, services.Time, message);
    }

    /// <summary>Waits as a slow upstream would; false when the caller went away meanwhile.</summary>
    private static async Task<bool> DelayAsync(HttpContext http, TimeSpan delay, ILogger logger)
    {
        try
        {
            await Task.Delay(delay, http.RequestAborted);
            return true;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            Log.CallerGone(logger, http.Request.Path.Value ?? "/");
            return false;
        }
    }

    private static string VideoBase(HttpContext http, UpstreamSettings settings) =>
        settings.PublicBaseUrl ?? $"{http.Request.Scheme}://{http.Request.Host.Value}";

    private static bool IsHeaderSafe(string value) => value.All(c => c is >= ' ' and <= '~');
}

/// <summary>The resolved options: the key read once at build, timings, and the video base without a trailing slash.</summary>
internal sealed class UpstreamSettings(SimulatorOptions options)
{
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.ResolveApiKey());

    // Instant mode ends every generation at once unless its own directives give it time.
    public TimeSpan QueuedFor { get; } = options.Instant ? TimeSpan.Zero : options.QueuedFor;

    public TimeSpan GeneratingFor { get; } = options.Instant ? TimeSpan.Zero : options.GeneratingFor;

    public string? PublicBaseUrl { get; } = string.IsNullOrWhiteSpace(options.PublicBaseUrl) ? null : options.PublicBaseUrl.TrimEnd('/');

    /// <summary>False in instant mode, which keeps neither requests nor the usage log.</summary>
    public bool RecordsRequests { get; } = !options.Instant;

    public bool IsAuthorized(HttpRequest request)
    {
        const string Scheme = "Bearer ";
        var value = request.Headers.Authorization.ToString();
        if (!value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = Encoding.UTF8.GetBytes(value[Scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, _key);
    }
}
