using System.Diagnostics;
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

/// <summary>
/// Typed client for the AI/ML API's two route families. The key is attached by <see cref="UpstreamAuthHandler"/>;
/// only <c>X-Client-Request-Id</c> and the W3C trace context travel from the caller. Creates are sent once
/// (a retry can bill twice); fetches retry transient faults with exponential backoff.
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
        // The upstream id can hold ':' and '/' (RESEARCH.md §4): always escaped into the query.
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

    private async Task<UpstreamResult> SendAsync(
        HttpRequestMessage request, string? clientRequestId, TimeSpan timeout, string operation, string family, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await SendOnceAsync(request, clientRequestId, timeout, operation, family, cancellationToken);
        metrics.UpstreamCall(operation, family, result, Stopwatch.GetElapsedTime(started));
        return result;
    }

    private async Task<UpstreamResult> SendOnceAsync(
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
                return new UpstreamResult(null, UpstreamFault.FromStatus(
                    response.StatusCode, UpstreamGeneration.ReadErrorMessage(payload), RetryAfter(response)));
            }

            var generation = UpstreamGeneration.Read(payload);
            return generation is null
                ? UpstreamResult.Failed(UpstreamFaultKind.BadResponse, status, "The upstream answered with a body the gateway could not read.")
                : new UpstreamResult(generation, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogUpstreamTimeout(logger, operation, family, timeout.TotalSeconds);
            return UpstreamResult.Failed(UpstreamFaultKind.Timeout, message: $"The upstream did not answer within {timeout.TotalSeconds:0.#} s.");
        }
        catch (HttpRequestException exception) when (exception.HttpRequestError is HttpRequestError.ConnectionError
            or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError)
        {
            LogUpstreamUnreachable(logger, operation, family, exception.HttpRequestError);
            return UpstreamResult.Failed(UpstreamFaultKind.ConnectFailure, message: "The gateway could not connect to the upstream.");
        }
        catch (HttpRequestException exception)
        {
            LogUpstreamBroken(logger, operation, family, exception.HttpRequestError);
            return UpstreamResult.Failed(UpstreamFaultKind.ServerError, message: "The connection to the upstream broke before it answered.");
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
