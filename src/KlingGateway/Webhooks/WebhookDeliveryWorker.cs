using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using KlingGateway.Events;
using KlingGateway.Ledger;
using Microsoft.Extensions.Options;

namespace KlingGateway.Webhooks;

/// <summary>
/// Sends the outbox's deliveries, from the ledger alone, so a restart (or another replica) picks up whatever was pending.
/// </summary>
/// <remarks>
/// <para>
/// <b>At least once, in order, one <c>webhook-id</c>.</b> A delivery is claimed with a lease of <c>Webhooks:Timeout</c>
/// and <see cref="LeaseMargin"/> (one conditional update: of several replicas, one sends it), and settled by another
/// update that holds only while the claim is this one's. A sender that dies mid-attempt leaves the lease to run out, and
/// the delivery is sent again, with the same <c>webhook-id</c> (its id), so a receiver can tell a repeat. A later event of
/// a generation is never sent to a target while an earlier one to it is pending (the claim's own condition).
/// </para>
/// <para>
/// <b>Answers.</b> 2xx: delivered. 410 Gone: the target is disabled (logged, counted) and its pending deliveries are given
/// up; a redelivery (<c>POST /v1/webhooks/deliveries/{id}/redeliver</c>) or a new URL in the settings enables it again.
/// Anything else, a redirect included (never followed), a timeout or a failed connection: another attempt after an
/// exponential backoff with jitter (<c>Webhooks:FirstRetryDelay</c> doubling up to <c>Webhooks:MaxRetryDelay</c>), until
/// <c>Webhooks:RetryFor</c> after the event; then it is given up. Refused without a try: an address
/// <see cref="WebhookAddressPolicy"/> refuses, a callback URL no longer on its client's allow-list, an endpoint no longer
/// configured.
/// </para>
/// <para>
/// <b>Bounded.</b> At most <c>Webhooks:MaxConcurrentDeliveries</c> at once, and <c>Webhooks:MaxConcurrentPerEndpoint</c> per
/// target: a target's deliveries are claimed only into its own free slots, so a slow endpoint holds its slots and no
/// others. An answer's body is read up to <see cref="WebhookHttp.MaxResponseBytes"/> and thrown away.
/// </para>
/// </remarks>
public sealed partial class WebhookDeliveryWorker(
    IWebhookOutbox outbox,
    WebhookDirectory directory,
    WebhookHttp http,
    EventRenderer renderer,
    ChangeFeed feed,
    IOptions<WebhookOptions> options,
    WebhookMetrics metrics,
    TimeProvider time,
    ILogger<WebhookDeliveryWorker> logger) : BackgroundService
{
    /// <summary>A delivery's lease beyond its timeout: time to record the answer.</summary>
    public static readonly TimeSpan LeaseMargin = TimeSpan.FromSeconds(5);

    /// <summary>The longest the worker waits before it looks at the outbox again, when nothing woke it.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan DepthEvery = TimeSpan.FromSeconds(5);
    private const int MaxErrorLength = 300;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _perTarget = new(StringComparer.Ordinal);
    private int _inFlight;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        using var wakeup = feed.ListenForDeliveries();
        var running = new List<Task>();
        var nextDepth = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var now = time.GetUtcNow();
                if (now >= nextDepth)
                {
                    metrics.OutboxDepth(await outbox.PendingDeliveriesAsync(stoppingToken));
                    nextDepth = now + DepthEvery;
                }

                await ClaimAndSendAsync(running, wakeup, stoppingToken);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // The ledger may be briefly unreachable: what is pending stays pending.
                LogClaimFailed(logger, exception.GetType().Name, Bounded(exception.Message));
            }

            running.RemoveAll(t => t.IsCompleted);
            try
            {
                await wakeup.WaitAsync(PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        // Attempts under way finish (each within Webhooks:Timeout), inside the host's shutdown timeout; one cut off keeps
        // its lease and is sent again after it.
        await Task.WhenAll(running);
    }

    private async Task ClaimAndSendAsync(List<Task> running, Wakeup wakeup, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        if (FreeSlots(settings) <= 0)
        {
            return;
        }

        foreach (var due in await outbox.FindDueTargetsAsync(now, 100, cancellationToken))
        {
            if (FreeSlots(settings) <= 0)
            {
                break;
            }

            if (due.DisabledUrl is { } disabledAt)
            {
                if (string.Equals(CurrentUrl(due), disabledAt, StringComparison.Ordinal))
                {
                    var given = await outbox.FailTargetAsync(due.Client, due.Target, SqlLedgerStore.DisabledError, now, cancellationToken);
                    LogSkippedDisabled(logger, due.Client, Shown(due.Target), given);
                    continue;
                }

                // The endpoint has a new URL since it answered 410 at the old one: it takes deliveries again.
                await outbox.EnableTargetAsync(due.Client, due.Target, cancellationToken);
            }

            var key = $"{due.Client}\n{due.Target}";
            int slots;
            lock (_gate)
            {
                slots = Math.Min(settings.MaxConcurrentDeliveries - _inFlight, settings.MaxConcurrentPerEndpoint - _perTarget.GetValueOrDefault(key));
            }

            if (slots <= 0)
            {
                continue;
            }

            var claimed = await outbox.ClaimAsync(due.Client, due.Target, now, now + settings.Timeout + LeaseMargin, slots, cancellationToken);
            foreach (var delivery in claimed)
            {
                lock (_gate)
                {
                    _inFlight++;
                    _perTarget[key] = _perTarget.GetValueOrDefault(key) + 1;
                }

                running.Add(Task.Run(async () =>
                {
                    try
                    {
                        await SendAsync(delivery);
                    }
                    finally
                    {
                        lock (_gate)
                        {
                            _inFlight--;
                            if ((_perTarget[key] -= 1) == 0)
                            {
                                _perTarget.Remove(key);
                            }
                        }

                        // A slot is free: look at the outbox again now.
                        wakeup.Set();
                    }
                }, CancellationToken.None));
            }
        }
    }

    private int FreeSlots(WebhookOptions settings)
    {
        lock (_gate)
        {
            return settings.MaxConcurrentDeliveries - _inFlight;
        }
    }

    private string? CurrentUrl(DueTarget due) => due.Target.StartsWith(WebhookRoute.EndpointPrefix, StringComparison.Ordinal)
        ? directory.EndpointUrl(due.Client, due.Target[WebhookRoute.EndpointPrefix.Length..])
        : due.Target[WebhookRoute.CallbackPrefix.Length..];

    /// <summary>One attempt and its record; never throws.</summary>
    private async Task SendAsync(WebhookDelivery delivery)
    {
        var started = time.GetTimestamp();
        try
        {
            var destination = delivery.Event is null
                ? WebhookDestination.Refused("The event this delivery reports is no longer in the event log.")
                : directory.Resolve(delivery.OwnerClient, delivery.Endpoint, delivery.Url);
            if (destination.Refusal is { } refusal)
            {
                await RefuseAsync(delivery, refusal);
                return;
            }

            var (status, error, refused) = await PostAsync(delivery, destination);
            var elapsed = time.GetElapsedTime(started);
            var now = time.GetUtcNow();
            if (refused)
            {
                await RefuseAsync(delivery, error!);
                return;
            }

            if (status is >= 200 and < 300)
            {
                await RecordAsync(new WebhookAttempt(delivery.Id, delivery.Attempts, WebhookDeliveryState.Delivered, now, null, status, null));
                metrics.Attempted("delivered", elapsed);
                metrics.Delivered(now - delivery.Event!.OccurredAt);
                LogDelivered(logger, delivery.Id, delivery.GenerationId, delivery.EventType, delivery.Attempts);
                return;
            }

            if (status == (int)HttpStatusCode.Gone)
            {
                await RecordAsync(new WebhookAttempt(delivery.Id, delivery.Attempts, WebhookDeliveryState.Failed, now, null, status,
                    "The endpoint answered 410 Gone; it is disabled."));
                var given = await outbox.DisableTargetAsync(delivery.OwnerClient, delivery.Target, CurrentUrl(new DueTarget(delivery.OwnerClient, delivery.Target, null)) ?? delivery.Url,
                    now, CancellationToken.None);
                metrics.Attempted("disabled", elapsed);
                metrics.EndpointDisabled();
                LogDisabled(logger, delivery.OwnerClient, Shown(delivery.Target), given);
                return;
            }

            var settings = options.Value;
            var wait = settings.FirstRetryDelay * Math.Pow(2, Math.Min(delivery.Attempts - 1, 30));
            if (wait > settings.MaxRetryDelay)
            {
                wait = settings.MaxRetryDelay;
            }

            // Equal jitter: between half the wait and all of it, so receivers that failed together are not retried together.
            wait *= 0.5 + (Random.Shared.NextDouble() * 0.5);
            var next = now + wait;
            var why = error ?? string.Create(CultureInfo.InvariantCulture, $"The endpoint answered {status}.");
            if (next > delivery.ExpiresAt)
            {
                await RecordAsync(new WebhookAttempt(delivery.Id, delivery.Attempts, WebhookDeliveryState.Failed, now, null, status,
                    Bounded($"Given up after {delivery.Attempts} attempts. {why}")));
                metrics.Attempted("failed", elapsed);
                LogGaveUp(logger, delivery.Id, delivery.GenerationId, delivery.Attempts, Bounded(why));
                return;
            }

            await RecordAsync(new WebhookAttempt(delivery.Id, delivery.Attempts, WebhookDeliveryState.Pending, now, next, status, Bounded(why)));
            metrics.Attempted("retry", elapsed);
            LogRetry(logger, delivery.Id, delivery.GenerationId, delivery.Attempts, Bounded(why), next);
        }
        catch (Exception exception)
        {
            // The ledger could not record the answer: the lease runs out and the delivery is sent again.
            LogRecordFailed(logger, delivery.Id, exception.GetType().Name, Bounded(exception.Message));
        }
    }

    /// <summary>Posts the webhook: the HTTP status, or the error, and whether the address was refused.</summary>
    private async Task<(int? Status, string? Error, bool Refused)> PostAsync(WebhookDelivery delivery, WebhookDestination destination)
    {
        var settings = options.Value;
        var body = renderer.WebhookBody(delivery.Event!);
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, destination.Url);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation(WebhookSigner.IdHeader, delivery.Id);
        request.Headers.TryAddWithoutValidation(WebhookSigner.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(WebhookSigner.SignatureHeader, WebhookSigner.Sign(delivery.Id, timestamp, body, destination.Keys));

        using var timeout = new CancellationTokenSource(settings.Timeout);
        try
        {
            using var response = await http.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            await DrainAsync(response, timeout.Token);
            return ((int)response.StatusCode, null, false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return (null, string.Create(CultureInfo.InvariantCulture,
                $"The endpoint did not answer within Webhooks:Timeout ({settings.Timeout.TotalSeconds:0.###} s)."), false);
        }
        catch (HttpRequestException exception) when (Find<WebhookAddressRefusedException>(exception) is { } refused)
        {
            return (null, $"Refused: {refused.Message}", true);
        }
        catch (HttpRequestException exception)
        {
            return (null, $"The endpoint could not be reached: {exception.Message}", false);
        }
    }

    /// <summary>Reads at most a few kilobytes of the answer, so the connection can be reused without reading a large body.</summary>
    private static async Task DrainAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[1024];
            var total = 0;
            int read;
            while (total < WebhookHttp.MaxResponseBytes && (read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += read;
            }
        }
        catch (Exception exception) when (exception is IOException or HttpRequestException)
        {
            // The status is the answer; a body cut off does not change it.
        }
    }

    private async Task RefuseAsync(WebhookDelivery delivery, string reason)
    {
        await RecordAsync(new WebhookAttempt(delivery.Id, delivery.Attempts, WebhookDeliveryState.Failed, time.GetUtcNow(), null, null, Bounded(reason)));
        metrics.Refused();
        LogRefused(logger, delivery.Id, delivery.GenerationId, Bounded(reason));
    }

    private async Task RecordAsync(WebhookAttempt attempt)
    {
        if (!await outbox.RecordAttemptAsync(attempt, CancellationToken.None))
        {
            // Its lease ran out and another sender claimed it meanwhile: that sender's record stands.
            LogSuperseded(logger, attempt.Id);
        }
    }

    private static T? Find<T>(Exception exception) where T : Exception
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>A target as logs show it: a callback URL without its query, which may carry a token.</summary>
    private static string Shown(string target) => target.StartsWith(WebhookRoute.CallbackPrefix, StringComparison.Ordinal)
        ? WebhookRoute.CallbackPrefix + WebhookUrls.Redact(target[WebhookRoute.CallbackPrefix.Length..])
        : target;

    private static string Bounded(string text) => text.Length > MaxErrorLength ? text[..MaxErrorLength] + "…" : text;

    [LoggerMessage(EventId = 9101, Level = LogLevel.Debug,
        Message = "Webhook {DeliveryId} of generation {GenerationId} ({EventType}) delivered on attempt {Attempt}")]
    private static partial void LogDelivered(ILogger logger, string deliveryId, string generationId, string eventType, int attempt);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Information,
        Message = "Webhook {DeliveryId} of generation {GenerationId}: attempt {Attempt} failed ({Reason}); next attempt at {NextAttemptAt}")]
    private static partial void LogRetry(ILogger logger, string deliveryId, string generationId, int attempt, string reason, DateTimeOffset nextAttemptAt);

    [LoggerMessage(EventId = 9103, Level = LogLevel.Warning,
        Message = "Webhook {DeliveryId} of generation {GenerationId} given up after {Attempts} attempts: {Reason}")]
    private static partial void LogGaveUp(ILogger logger, string deliveryId, string generationId, int attempts, string reason);

    [LoggerMessage(EventId = 9104, Level = LogLevel.Warning,
        Message = "Webhook endpoint {Target} of client {Client} answered 410 Gone and is disabled; {Given} pending deliveries given up. A redelivery, or a new URL, enables it again")]
    private static partial void LogDisabled(ILogger logger, string client, string target, int given);

    [LoggerMessage(EventId = 9105, Level = LogLevel.Warning,
        Message = "Webhook {DeliveryId} of generation {GenerationId} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string deliveryId, string generationId, string reason);

    [LoggerMessage(EventId = 9106, Level = LogLevel.Information,
        Message = "Webhook endpoint {Target} of client {Client} is disabled (410 Gone): {Given} pending deliveries given up")]
    private static partial void LogSkippedDisabled(ILogger logger, string client, string target, int given);

    [LoggerMessage(EventId = 9107, Level = LogLevel.Information,
        Message = "Webhook {DeliveryId}: its lease ran out and another sender claimed it; that one's record stands")]
    private static partial void LogSuperseded(ILogger logger, string deliveryId);

    [LoggerMessage(EventId = 9108, Level = LogLevel.Warning,
        Message = "Webhook {DeliveryId}: the answer could not be recorded ({ErrorType}: {Error}); it is sent again once its lease ends")]
    private static partial void LogRecordFailed(ILogger logger, string deliveryId, string errorType, string error);

    [LoggerMessage(EventId = 9109, Level = LogLevel.Warning,
        Message = "Webhooks: looking at the outbox failed ({ErrorType}: {Error}); trying again shortly")]
    private static partial void LogClaimFailed(ILogger logger, string errorType, string error);
}
