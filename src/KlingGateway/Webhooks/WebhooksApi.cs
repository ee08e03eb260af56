using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace KlingGateway.Webhooks;

/// <summary>
/// The webhook deliveries of the caller's generations (an admin's: all), under the same ownership rule as generations:
/// <list type="table">
/// <item><term>GET /v1/webhooks/deliveries</term><description>newest first, filtered by generation and state, cursor-paged</description></item>
/// <item><term>GET /v1/webhooks/deliveries/{id}</term><description>one delivery</description></item>
/// <item><term>POST /v1/webhooks/deliveries/{id}/redeliver</term><description>send a delivered or failed one again</description></item>
/// </list>
/// </summary>
public static class WebhooksApi
{
    private static readonly IntegerQuery Limit = new("limit", 1);

    public static RouteGroupBuilder MapWebhooks(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/webhooks").WithTags("Webhooks").RequireCaller();

        group.MapGet("/deliveries", List)
            .WithName("ListWebhookDeliveries")
            .WithMetadata(Limit)
            .WithSummary("List webhook deliveries")
            .WithDescription("Newest first: the webhooks the gateway sent, is sending or gave up for the caller's generations (an admin " +
                             "client sees all), with their attempts, the last status code or error, and the next attempt. Filter by " +
                             "generation_id and state (pending, delivered, failed); page with limit (1..100, default 20) and next_cursor. " +
                             "The webhook-id a receiver got is the delivery's id.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapGet("/deliveries/{id}", Get)
            .WithName("GetWebhookDelivery")
            .WithSummary("Read a webhook delivery")
            .WithDescription("One delivery: its state, attempts, last status code or error, and next attempt.")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        group.MapPost("/deliveries/{id}/redeliver", Redeliver)
            .WithName("RedeliverWebhook")
            .WithSummary("Send a webhook again")
            .WithDescription("Makes a delivered or failed delivery pending again, due now, with the same webhook-id and its event's data, " +
                             "retried as a new one would be. It goes after any earlier event of the generation still pending for the " +
                             "same endpoint. An endpoint disabled because it answered 410 Gone is enabled again by this: it says the " +
                             "receiver is back.")
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        return group;
    }

    private static async Task<Results<Ok<WebhookDeliveryList>, ValidationProblem>> List(
        CurrentCaller current,
        IWebhookOutbox outbox,
        IOptions<GenerationOptions> options,
        CancellationToken cancellationToken,
        [FromQuery(Name = "generation_id")] string? generationId = null,
        [FromQuery] string? state = null,
        [FromQuery] string[]? limit = null,
        [FromQuery] string? cursor = null)
    {
        var settings = options.Value;
        var errors = new Dictionary<string, string[]>();
        if (generationId is not null && !GenerationId.IsWellFormed(generationId))
        {
            errors["generation_id"] = ["generation_id must be a generation id (gen_ and 22 characters)."];
        }

        WebhookDeliveryState? stateFilter = state switch
        {
            null => null,
            "pending" => WebhookDeliveryState.Pending,
            "delivered" => WebhookDeliveryState.Delivered,
            "failed" => WebhookDeliveryState.Failed,
            _ => Invalid(errors, "state", "state must be one of: pending, delivered, failed."),
        };

        var pageSize = Limit.Read(limit, settings.MaxPageSize, errors);

        WebhookDeliveryCursor? after = null;
        if (cursor is not null)
        {
            if (WebhookDeliveryCursor.TryParse(cursor, out var parsed))
            {
                after = parsed;
            }
            else
            {
                errors["cursor"] = ["cursor must be a next_cursor value from a previous page."];
            }
        }

        if (errors.Count > 0)
        {
            return ProblemCatalog.InvalidQuery.ValidationResult(errors);
        }

        var caller = current.Caller;
        var page = await outbox.ListDeliveriesAsync(new WebhookDeliveryQuery(
            caller.IsAdmin ? null : caller.Owner, generationId, stateFilter, pageSize ?? settings.DefaultPageSize, after), cancellationToken);
        return TypedResults.Ok(new WebhookDeliveryList([.. page.Items.Select(WebhookDeliveryResource.From)], page.Next?.ToString()));
    }

    private static async Task<Results<Ok<WebhookDeliveryResource>, ProblemHttpResult>> Get(
        string id, CurrentCaller caller, IWebhookOutbox outbox, CancellationToken cancellationToken)
    {
        var delivery = await FindAsync(id, caller.Caller, outbox, cancellationToken);
        return delivery is null ? NotFound(id) : TypedResults.Ok(WebhookDeliveryResource.From(delivery));
    }

    private static async Task<Results<Accepted<WebhookDeliveryResource>, ProblemHttpResult>> Redeliver(
        string id, CurrentCaller caller, IWebhookOutbox outbox, IOptions<WebhookOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var delivery = await FindAsync(id, caller.Caller, outbox, cancellationToken);
        if (delivery is null)
        {
            return NotFound(id);
        }

        if (delivery.State == WebhookDeliveryState.Pending)
        {
            return ProblemCatalog.WebhookDeliveryPending.Result(
                "This delivery is still pending: it is being attempted, or waits for its next attempt (next_attempt_at).",
                [new("delivery_id", id), new("next_attempt_at", delivery.NextAttemptAt)]);
        }

        var now = time.GetUtcNow();
        var redelivered = await outbox.RedeliverAsync(id, now, now + options.Value.RetryFor, cancellationToken) ?? delivery;
        return TypedResults.Accepted($"/v1/webhooks/deliveries/{id}", WebhookDeliveryResource.From(redelivered));
    }

    private static async Task<WebhookDelivery?> FindAsync(string id, Caller caller, IWebhookOutbox outbox, CancellationToken cancellationToken)
    {
        if (!WebhookDeliveryId.IsWellFormed(id))
        {
            return null;
        }

        var delivery = await outbox.FindDeliveryAsync(id, cancellationToken);
        return delivery is not null && (caller.IsAdmin || caller.Owner.Owns(delivery.OwnerClient, delivery.OwnerUser)) ? delivery : null;
    }

    private static ProblemHttpResult NotFound(string id) => ProblemCatalog.WebhookDeliveryNotFound.Result(
        "No webhook delivery with this id belongs to this caller's generations.", [new("delivery_id", id)]);

    private static WebhookDeliveryState? Invalid(Dictionary<string, string[]> errors, string field, string message)
    {
        errors[field] = [message];
        return null;
    }
}

/// <summary>One webhook delivery: an event of a generation, sent to one endpoint.</summary>
/// <param name="Id">The delivery's id, which is also the <c>webhook-id</c> the receiver gets on every attempt.</param>
/// <param name="GenerationId">The generation whose event it reports.</param>
/// <param name="EventType">The event's name (its body's <c>type</c>).</param>
/// <param name="EventId">The event's sequence, as the all-generations event stream numbers it.</param>
/// <param name="Endpoint">The configured endpoint's name, or absent for the callback URL the create named.</param>
/// <param name="Url">Where it goes: scheme, host and path (a query is not shown).</param>
/// <param name="State">pending (waiting for its next attempt, or being attempted), delivered (2xx), failed (given up).</param>
/// <param name="Attempts">Attempts made so far.</param>
/// <param name="LastStatusCode">The receiver's status on the last attempt, when it answered.</param>
/// <param name="LastError">What went wrong on the last attempt (a timeout, no connection, a refusal), when something did.</param>
/// <param name="NextAttemptAt">When pending: when the next attempt may start.</param>
/// <param name="RetryUntil">When it is given up if not delivered by then.</param>
/// <param name="CreatedAt">When the event was recorded.</param>
/// <param name="UpdatedAt">When the delivery last changed.</param>
/// <param name="DeliveredAt">When the receiver answered 2xx.</param>
public sealed record WebhookDeliveryResource(
    string Id,
    string GenerationId,
    string EventType,
    long EventId,
    string? Endpoint,
    string Url,
    WebhookDeliveryState State,
    int Attempts,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset RetryUntil,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? DeliveredAt)
{
    public static WebhookDeliveryResource From(WebhookDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return new(delivery.Id, delivery.GenerationId, delivery.EventType, delivery.EventSequence, delivery.Endpoint,
            WebhookUrls.Redact(delivery.Url), delivery.State, delivery.Attempts, delivery.LastStatus, delivery.LastError,
            delivery.State == WebhookDeliveryState.Pending ? delivery.NextAttemptAt : null, delivery.ExpiresAt,
            delivery.CreatedAt, delivery.UpdatedAt, delivery.DeliveredAt);
    }
}

/// <summary>One page of deliveries, newest first.</summary>
/// <param name="Items">The deliveries on this page.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; absent on the last page.</param>
public sealed record WebhookDeliveryList(IReadOnlyList<WebhookDeliveryResource> Items, string? NextCursor);
