using System.Globalization;
using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Videos;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using IDiagnosticContext = Serilog.IDiagnosticContext;

namespace KlingGateway.Events;

/// <summary>
/// The event streams (<c>text/event-stream</c>, https://html.spec.whatwg.org/multipage/server-sent-events.html):
/// <list type="table">
/// <item><term>GET /v1/generations/{id}/events</term><description>one generation's events, until its last</description></item>
/// <item><term>GET /v1/generations/events</term><description>every event of the caller's generations (an admin's: all)</description></item>
/// </list>
/// </summary>
public static class EventsApi
{
    /// <summary>The header a reconnecting client sends with the last <c>id:</c> it read.</summary>
    public const string LastEventIdHeader = "Last-Event-ID";

    /// <summary>What a refused stream is told to wait before it tries again.</summary>
    private const int RefusedRetryAfterSeconds = 10;

    public static RouteGroupBuilder MapGenerationEvents(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/generations").WithTags("Events").RequireCaller();

        group.MapGet("/{id}/events", StreamGeneration)
            .WithName("StreamGenerationEvents")
            .WithSummary("Follow one generation's events (server-sent events)")
            .WithDescription("A text/event-stream of the generation's changes: each event has an `event:` name (generation.queued, " +
                             "generation.processing, generation.succeeded, generation.failed, generation.video_stored, " +
                             "generation.video_failed, generation.video_expired, generation.billing_settled), an `id:` (the generation's " +
                             "version, which grows with every change) and as `data:` the generation resource, one line of JSON exactly " +
                             "as GET /v1/generations/{id} answers it. The first event is the generation as it is now; with a " +
                             "Last-Event-ID header, the events after that id instead. The stream ends after the generation's last event " +
                             "(finished, video settled); one already finished gets that event and the end at once. A comment line " +
                             "(`: heartbeat`) comes every 15 s while nothing happens; `retry:` says how long to wait before reconnecting. " +
                             "The stream never asks the upstream: however many follow a generation, it is refreshed once per interval.")
            .Produces<GenerationResource>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapGet("/events", StreamAll)
            .WithName("StreamAllGenerationEvents")
            .WithSummary("Follow every event of your generations (server-sent events)")
            .WithDescription("A text/event-stream of every event of the caller's generations (an admin client's: every " +
                             "generation's), for dashboards and lists: the same event names and data as the one-generation stream, " +
                             "the `data:` being the resource of whichever generation changed. Its `id:` is the gateway's event sequence, " +
                             "one number for all generations, so a Last-Event-ID header resumes after it without a gap across " +
                             "generations. Without one, the stream starts with the next change. It stays open, with a heartbeat comment " +
                             "every 15 s.")
            .Produces<GenerationResource>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        return group;
    }

    private static async Task<IResult> StreamGeneration(
        string id,
        HttpContext context,
        CurrentCaller current,
        EventHub hub,
        IGenerationStore store,
        IDiagnosticContext requestLog,
        [FromHeader(Name = LastEventIdHeader)] string? lastEventId = null)
    {
        requestLog.SetGenerationId(id);
        if (!GenerationId.IsWellFormed(id))
        {
            return GenerationProblems.NotFound(id);
        }

        var caller = current.Caller;
        // Subscribed before the generation is read: an event committed after the read arrives live, and one committed
        // before it is in what is read. A generation the caller may not see costs the subscription back at once.
        var subscription = hub.TrySubscribe(caller.Client.Name, id, owner: null, out var refusal);
        if (subscription is null)
        {
            return Refused(context, refusal);
        }

        try
        {
            var generation = await store.FindAsync(id, context.RequestAborted);
            if (generation is null || !caller.CanSee(generation))
            {
                subscription.Dispose();
                return GenerationProblems.NotFound(id);
            }

            requestLog.SetGeneration(generation);
            return new GenerationEventStream(subscription, generation, ParseId(lastEventId));
        }
        catch
        {
            subscription.Dispose();
            throw;
        }
    }

    private static async Task<IResult> StreamAll(
        HttpContext context, CurrentCaller current, EventHub hub, [FromHeader(Name = LastEventIdHeader)] string? lastEventId = null)
    {
        var caller = current.Caller;
        var owner = caller.IsAdmin ? null : caller.Owner;
        var subscription = hub.TrySubscribe(caller.Client.Name, generationId: null, owner, out var refusal);
        return subscription is null ? Refused(context, refusal) : new AllEventsStream(subscription, owner, ParseId(lastEventId));
    }

    /// <summary>A Last-Event-ID this gateway could have sent (a non-negative number); anything else is as if none was sent.</summary>
    private static long? ParseId(string? value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;

    private static IResult Refused(HttpContext context, SubscriptionRefusal refusal)
    {
        context.Response.Headers.RetryAfter = RefusedRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        var limits = context.RequestServices.GetRequiredService<IOptions<EventOptions>>().Value;
        return refusal == SubscriptionRefusal.ClientFull
            ? ProblemCatalog.TooManyEventStreams.Result(string.Create(CultureInfo.InvariantCulture,
                $"This client has {limits.MaxSubscribersPerClient} event streams open on this replica, its most. Close one, or retry after {RefusedRetryAfterSeconds} s."))
            : ProblemCatalog.EventStreamsUnavailable.Result(string.Create(CultureInfo.InvariantCulture,
                $"This replica holds its most event streams ({limits.MaxSubscribers}), or is stopping. Retry after {RefusedRetryAfterSeconds} s, or poll GET /v1/generations/{{id}}."));
    }
}

/// <summary>What both streams share: the answer's head, the writes, the wait for the next event or heartbeat.</summary>
internal abstract class EventStreamResult(Subscription subscription) : IResult
{
    protected Subscription Subscription { get; } = subscription;

    protected EventRenderer Renderer { get; private set; } = null!;

    /// <summary>The base the resource's video links are made under (as the request reached the gateway).</summary>
    protected string BaseUrl { get; private set; } = "";

    private HttpResponse _response = null!;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var services = httpContext.RequestServices;
        Renderer = services.GetRequiredService<EventRenderer>();
        BaseUrl = services.GetRequiredService<VideoLinks>().BaseUrl(httpContext.Request);
        _response = httpContext.Response;
        var cancel = httpContext.RequestAborted;
        try
        {
            _response.StatusCode = StatusCodes.Status200OK;
            _response.ContentType = "text/event-stream; charset=utf-8";
            _response.Headers.CacheControl = "no-cache, no-store";
            // nginx and similar proxies buffer answers unless told not to; an event must not wait in a buffer.
            _response.Headers["X-Accel-Buffering"] = "no";
            httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await WriteAsync(EventRenderer.Retry(services.GetRequiredService<IOptions<EventOptions>>().Value.ReconnectDelay), cancel);
            await RunAsync(httpContext, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // The client left.
        }
        finally
        {
            Subscription.Dispose();
        }
    }

    /// <summary>Replays what the client missed, then follows the subscription until the stream ends.</summary>
    protected abstract Task RunAsync(HttpContext context, CancellationToken cancellationToken);

    protected async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        await _response.BodyWriter.WriteAsync(bytes, cancellationToken);

    /// <summary>The next event or heartbeat; null when the subscription ended (the host stops, or the reader fell behind).</summary>
    protected async Task<HubItem?> NextAsync(CancellationToken cancellationToken)
    {
        var reader = Subscription.Reader;
        while (await reader.WaitToReadAsync(cancellationToken))
        {
            if (reader.TryRead(out var item))
            {
                return item;
            }
        }

        return null;
    }
}

/// <summary>
/// One generation's stream. Its ids are the generation's versions, so a <c>Last-Event-ID</c> resumes after the last
/// version read: the events after it come from the ledger's log, or, when the log no longer holds them all (older than
/// <c>Events:Retention</c>), the generation as it is now. It ends after an event after which the generation waits for
/// nothing (<see cref="GenerationEventTypes.IsFinal"/>); in the watchdog's late window it stays open until the window ends.
/// </summary>
internal sealed class GenerationEventStream(Subscription subscription, Generation current, long? lastEventId) : EventStreamResult(subscription)
{
    private const int MaxReplay = 1000;

    protected override async Task RunAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var services = context.RequestServices;
        var policy = services.GetRequiredService<GenerationService>().Policy;
        var time = services.GetRequiredService<TimeProvider>();
        long sent = -1;
        GenerationEvent? last = null;

        if (lastEventId is { } after && after <= current.Version)
        {
            var missed = after == current.Version
                ? []
                : await services.GetRequiredService<IEventLog>().ReadGenerationAsync(current.Id, after, MaxReplay, cancellationToken);
            if (Contiguous(missed, after, current.Version))
            {
                foreach (var generationEvent in missed)
                {
                    await WriteAsync(Renderer.Frame(generationEvent.Version, generationEvent.Type, generationEvent.Snapshot, BaseUrl), cancellationToken);
                    last = generationEvent;
                }

                sent = last?.Version ?? after;
            }
        }

        if (sent < 0)
        {
            // No usable Last-Event-ID, or the log no longer holds every event after it: the generation as it is now.
            last = Now(current);
            await WriteAsync(Renderer.Frame(last.Version, last.Type, last.Snapshot, BaseUrl), cancellationToken);
            sent = last.Version;
        }

        var state = last?.Snapshot ?? current;
        if (last?.IsFinal ?? GenerationEventTypes.IsFinal(current))
        {
            return;
        }

        var closeAt = CloseAt(state, policy);
        while (await NextAsync(cancellationToken) is { } item)
        {
            if (item.Event is not { } generationEvent)
            {
                if (closeAt is { } end && time.GetUtcNow() >= end)
                {
                    // The late window is over: nothing more will come (a late success would have).
                    return;
                }

                await WriteAsync(EventRenderer.Heartbeat, cancellationToken);
                continue;
            }

            if (generationEvent.Version <= sent)
            {
                continue;
            }

            await WriteAsync(generationEvent.Frame("one|" + BaseUrl,
                e => Renderer.Frame(e.Version, e.Type, e.Snapshot, BaseUrl)), cancellationToken);
            sent = generationEvent.Version;
            if (generationEvent.IsFinal)
            {
                return;
            }

            closeAt = CloseAt(generationEvent.Snapshot, policy);
        }
    }

    /// <summary>Whether the events read are every version after <paramref name="after"/> up to at least <paramref name="version"/>.</summary>
    private static bool Contiguous(IReadOnlyList<GenerationEvent> events, long after, long version)
    {
        var expected = after + 1;
        foreach (var generationEvent in events)
        {
            if (generationEvent.Version != expected)
            {
                return false;
            }

            expected++;
        }

        return expected > version;
    }

    /// <summary>The generation as it is, as an event named by its status.</summary>
    private static GenerationEvent Now(Generation generation) => new(
        0, generation.Id, generation.Version, GenerationEventTypes.ForStatus(generation.Status), generation.OwnerClient,
        generation.OwnerUser, generation.UpdatedAt, GenerationEventTypes.IsFinal(generation), generation);

    /// <summary>For a generation in the watchdog's late window: when the window ends (and one more check has had its say).</summary>
    private static DateTimeOffset? CloseAt(Generation generation, LifecyclePolicy policy) =>
        GenerationTransitions.IsLateWatched(generation) ? policy.LateChecksEndOf(generation.CreatedAt) + policy.LateCheckInterval : null;
}

/// <summary>
/// Every event of a caller's generations. Its ids are the event log's sequence, one for all generations, so a
/// <c>Last-Event-ID</c> resumes after it: the events after it that this replica has handed on are read from the log, the
/// later ones arrive live. It stays open until the client leaves or the host stops.
/// </summary>
internal sealed class AllEventsStream(Subscription subscription, GenerationOwner? owner, long? lastEventId) : EventStreamResult(subscription)
{
    private const int Page = 500;

    protected override async Task RunAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var services = context.RequestServices;
        var hub = services.GetRequiredService<EventHub>();
        await hub.Started.WaitAsync(cancellationToken);
        // Subscribed already: every event after this mark arrives live, and none up to it does.
        var high = hub.LiveAfter(Subscription);
        var sent = high;
        if (lastEventId is { } after && after < high)
        {
            var log = services.GetRequiredService<IEventLog>();
            sent = after;
            while (true)
            {
                var missed = await log.ReadOwnedAsync(owner, sent, high, Page, cancellationToken);
                foreach (var generationEvent in missed)
                {
                    await WriteAsync(Renderer.Frame(generationEvent.Sequence, generationEvent.Type, generationEvent.Snapshot, BaseUrl), cancellationToken);
                    sent = generationEvent.Sequence;
                }

                if (missed.Count < Page)
                {
                    break;
                }
            }

            sent = high;
        }
        else if (lastEventId is { } ahead)
        {
            // Read on a replica ahead of this one: the events up to it arrive here too, and are not sent twice.
            sent = ahead;
        }

        while (await NextAsync(cancellationToken) is { } item)
        {
            if (item.Event is not { } generationEvent)
            {
                await WriteAsync(EventRenderer.Heartbeat, cancellationToken);
                continue;
            }

            if (generationEvent.Sequence > sent)
            {
                await WriteAsync(generationEvent.Frame("all|" + BaseUrl,
                    e => Renderer.Frame(e.Sequence, e.Type, e.Snapshot, BaseUrl)), cancellationToken);
                sent = generationEvent.Sequence;
            }
            else if (item.Late)
            {
                // Committed after later events were handed on: sent without an id, so the client's last id stays where it is.
                await WriteAsync(generationEvent.Frame("late|" + BaseUrl,
                    e => Renderer.Frame(null, e.Type, e.Snapshot, BaseUrl)), cancellationToken);
            }
        }
    }
}
