using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using KlingGateway.Infrastructure;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace KlingGateway.Upstream;

/// <summary>The outcome of an upstream call: a generation, or a fault.</summary>
public readonly record struct UpstreamResult(UpstreamGeneration? Generation, UpstreamFault? Fault)
{
    public static UpstreamResult Failed(UpstreamFaultKind kind, int? status = null, string? message = null, TimeSpan? retryAfter = null) =>
        new(null, new UpstreamFault(kind, status, message, retryAfter));
}

/// <summary>A page of the upstream's usage log, or why it could not be read.</summary>
public readonly record struct UsageLogResult(UsageLogPage? Page, UpstreamFault? Fault);

/// <summary>
/// Typed client for the AI/ML API's two route families and its usage log. The key is attached by
/// <see cref="UpstreamAuthHandler"/>; of the caller's request only the W3C trace context travels, and each generation's
/// calls carry its own <c>X-Client-Request-Id</c>. Creates are sent once (a retry can bill twice); fetches retry
/// transient faults with exponential backoff; the usage log is read once per call (its caller paces and retries).
/// </summary>
public sealed partial class AimlApiClient(
    HttpClient http,
    UpstreamTarget target,
    UpstreamRetryPipeline retryPipeline,
    IOptions<AimlApiOptions> options,
    GatewayMetrics metrics,
    ILogger<AimlApiClient> logger)
{
    private const string ClientRequestIdHeader = "X-Client-Request-Id";
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private const string UsageLogPath = "v2/logs";

    /// <summary>Starts a generation. Sent exactly once; <paramref name="cancellationToken"/> should not be the caller's.</summary>
    public async Task<UpstreamResult> CreateAsync(string family, HttpContent body, string clientRequestId, CancellationToken cancellationToken)
    {
        await target.Ready.WaitAsync(cancellationToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(target.BaseAddress, UpstreamRouteFamily.PathOf(family).TrimStart('/')))
        {
            Content = body,
        };
        request.Content.Headers.ContentType = Json;
        return await SendAsync(request, clientRequestId, options.Value.CreateTimeout, "create", family, cancellationToken);
    }

    /// <summary>Reads a generation's status, retrying transient faults.</summary>
    public async Task<UpstreamResult> FetchAsync(string family, string upstreamId, string? clientRequestId, CancellationToken cancellationToken)
    {
        await target.Ready.WaitAsync(cancellationToken);
        // The upstream id can hold ':' and '/' (docs/upstream.md, "Ids"): always escaped into the query.
        var uri = new Uri(target.BaseAddress,
            $"{UpstreamRouteFamily.PathOf(family).TrimStart('/')}?generation_id={Uri.EscapeDataString(upstreamId)}");
        var timeout = options.Value.FetchTimeout;

        return await retryPipeline.Pipeline.ExecuteAsync(
            async token =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                return await SendAsync(request, clientRequestId, timeout, "fetch", family, token);
            },
            cancellationToken);
    }

    /// <summary>
    /// One page of the upstream's usage log for the window [<paramref name="start"/>, <paramref name="end"/>], newest
    /// first (docs/upstream.md, "Usage log"). Not retried here: the caller paces its requests under the log's own limit.
    /// </summary>
    public async Task<UsageLogResult> ReadUsageLogAsync(
        DateTimeOffset start, DateTimeOffset end, int limit, int offset, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, UsageLogPage.MaxLimit);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);

        await target.Ready.WaitAsync(cancellationToken);
        var query = string.Create(CultureInfo.InvariantCulture,
            $"?start={Uri.EscapeDataString(UsageLogPage.FormatTime(start))}&end={Uri.EscapeDataString(UsageLogPage.FormatTime(end))}&limit={limit}&offset={offset}");
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(target.BaseAddress, UsageLogPath + query));
        var started = Stopwatch.GetTimestamp();
        var (status, payload, fault) = await ExchangeAsync(request, null, options.Value.FetchTimeout, "usage_log", "none", cancellationToken);
        UsageLogResult result = fault is not null ? new(null, fault)
            : UsageLogPage.Read(payload) is { } page ? new(page, null)
            : new(null, new UpstreamFault(UpstreamFaultKind.BadResponse, status, "The usage log answered with a body the gateway could not read.", null));
        metrics.UpstreamCall("usage_log", "none", new UpstreamResult(null, result.Fault), Stopwatch.GetElapsedTime(started));
        return result;
    }

    private async Task<UpstreamResult> SendAsync(
        HttpRequestMessage request, string? clientRequestId, TimeSpan timeout, string operation, string family, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var (status, payload, fault) = await ExchangeAsync(request, clientRequestId, timeout, operation, family, cancellationToken);
        var result = fault is not null ? new UpstreamResult(null, fault)
            : UpstreamGeneration.Read(payload) is { } generation ? new UpstreamResult(generation, null)
            : UpstreamResult.Failed(UpstreamFaultKind.BadResponse, status, "The upstream answered with a body the gateway could not read.");
        metrics.UpstreamCall(operation, family, result, Stopwatch.GetElapsedTime(started));
        return result;
    }

    /// <summary>One request and its whole answer: the body of a success, or the fault (an error status, a timeout, a broken connection).</summary>
    private async Task<(int Status, byte[] Payload, UpstreamFault? Fault)> ExchangeAsync(
        HttpRequestMessage request, string? clientRequestId, TimeSpan timeout, string operation, string family, CancellationToken cancellationToken)
    {
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (clientRequestId is not null)
        {
            request.Headers.TryAddWithoutValidation(ClientRequestIdHeader, clientRequestId);
        }

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutSource.Token);
            var payload = await response.Content.ReadAsByteArrayAsync(timeoutSource.Token);
            var status = (int)response.StatusCode;
            LogUpstreamAnswer(logger, operation, family, status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);

            if (!response.IsSuccessStatusCode)
            {
                return (status, [], UpstreamFault.FromStatus(response.StatusCode, UpstreamGeneration.ReadErrorMessage(payload), RetryAfter(response)));
            }

            return (status, payload, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogUpstreamTimeout(logger, operation, family, timeout.TotalSeconds);
            return (0, [], new UpstreamFault(UpstreamFaultKind.Timeout, null,
                string.Create(CultureInfo.InvariantCulture, $"The upstream did not answer within {timeout.TotalSeconds:0.#} s."), null));
        }
        catch (HttpRequestException exception) when (exception.HttpRequestError is HttpRequestError.ConnectionError
            or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError)
        {
            LogUpstreamUnreachable(logger, operation, family, exception.HttpRequestError);
            return (0, [], new UpstreamFault(UpstreamFaultKind.ConnectFailure, null, "The gateway could not connect to the upstream.", null));
        }
        catch (HttpRequestException exception)
        {
            LogUpstreamBroken(logger, operation, family, exception.HttpRequestError);
            return (0, [], new UpstreamFault(UpstreamFaultKind.ServerError, null, "The connection to the upstream broke before it answered.", null));
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - DateTimeOffset.UtcNow is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
            _ => null,
        };

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Upstream {Operation} on the {RouteFamily} route answered {StatusCode} in {ElapsedMs:0.0} ms")]
    private static partial void LogUpstreamAnswer(ILogger logger, string operation, string routeFamily, int statusCode, double elapsedMs);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Upstream {Operation} on the {RouteFamily} route timed out after {TimeoutSeconds} s")]
    private static partial void LogUpstreamTimeout(ILogger logger, string operation, string routeFamily, double timeoutSeconds);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Upstream {Operation} on the {RouteFamily} route could not connect ({Error})")]
    private static partial void LogUpstreamUnreachable(ILogger logger, string operation, string routeFamily, HttpRequestError error);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Upstream {Operation} on the {RouteFamily} route failed mid-exchange ({Error})")]
    private static partial void LogUpstreamBroken(ILogger logger, string operation, string routeFamily, HttpRequestError error);
}

/// <summary>
/// The retry pipeline for safe reads, built once from the options, with Polly.Core. Not
/// Microsoft.Extensions.Http.Resilience: its standard handler sits on the whole HttpClient and retries every method,
/// a POST included, and this one client also sends the create, which must go out exactly once (a retried create can
/// be billed twice). Here the pipeline wraps <see cref="AimlApiClient.FetchAsync"/> alone, decides on the gateway's
/// own fault kinds (<see cref="UpstreamFault.IsTransient"/>), and each attempt keeps its own timeout and metric.
/// </summary>
public sealed class UpstreamRetryPipeline
{
    public UpstreamRetryPipeline(IOptions<AimlApiOptions> options, TimeProvider timeProvider)
    {
        var settings = options.Value;
        var builder = new ResiliencePipelineBuilder<UpstreamResult> { TimeProvider = timeProvider };
        if (settings.FetchRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<UpstreamResult>
            {
                MaxRetryAttempts = settings.FetchRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = settings.FetchRetryDelay,
                // A 503 that names its Retry-After is not retried a moment later: the caller, or the whole background
                // worker (Lifecycle/UpstreamPacer.cs), waits as long as it says.
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result.Fault is { IsTransient: true, RetryAfter: null }),
            });
        }

        Pipeline = builder.Build();
    }

    public ResiliencePipeline<UpstreamResult> Pipeline { get; }
}
