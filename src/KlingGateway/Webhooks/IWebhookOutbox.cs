using System.Text.Json.Serialization;
using KlingGateway.Events;
using KlingGateway.Generations;

namespace KlingGateway.Webhooks;

/// <summary>
/// The webhook outbox in the ledger: one delivery per event and route, recorded in the transaction of the change it
/// reports (<see cref="Ledger.SqlLedgerStore"/>), claimed with a lease by one conditional update (so of several replicas one
/// sends it), and settled with another that holds only while the claim is still the sender's.
/// </summary>
public interface IWebhookOutbox
{
    /// <summary>Targets (client and route) with a delivery due at <paramref name="now"/>, and the URL a target was disabled at, if it was.</summary>
    Task<IReadOnlyList<DueTarget>> FindDueTargetsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="limit"/> due deliveries of one target, counting the attempt and leasing each until
    /// <paramref name="leaseUntil"/>. Only the earliest pending delivery of each generation is taken: a later event of a
    /// generation never goes out while an earlier one to the same target is pending (waiting, or in flight elsewhere).
    /// Each comes with its event.
    /// </summary>
    Task<IReadOnlyList<WebhookDelivery>> ClaimAsync(
        string client, string target, DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Records how an attempt ended, if the delivery is still the claim it was (false when it is not).</summary>
    Task<bool> RecordAttemptAsync(WebhookAttempt attempt, CancellationToken cancellationToken);

    /// <summary>Disables a target (it answered 410 Gone at <paramref name="url"/>) and gives up its pending deliveries; returns how many.</summary>
    Task<int> DisableTargetAsync(string client, string target, string url, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Gives up the pending deliveries of a target with <paramref name="error"/>; returns how many.</summary>
    Task<int> FailTargetAsync(string client, string target, string error, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Enables a disabled target again.</summary>
    Task EnableTargetAsync(string client, string target, CancellationToken cancellationToken);

    /// <summary>One page of deliveries, newest first.</summary>
    Task<WebhookDeliveryPage> ListDeliveriesAsync(WebhookDeliveryQuery query, CancellationToken cancellationToken);

    /// <summary>The delivery with this id, or null.</summary>
    Task<WebhookDelivery?> FindDeliveryAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Makes a delivered or failed delivery pending again, due at once, retried until <paramref name="expiresAt"/>, and
    /// enables its target if it was disabled. The delivery as it is now; null when there is none.
    /// </summary>
    Task<WebhookDelivery?> RedeliverAsync(string id, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>Deliveries pending in the ledger (the outbox's depth).</summary>
    Task<long> PendingDeliveriesAsync(CancellationToken cancellationToken);
}

/// <summary>A target with deliveries due.</summary>
/// <param name="Client">The client whose generations' events they are.</param>
/// <param name="Target">The route (<see cref="WebhookRoute.Target"/>).</param>
/// <param name="DisabledUrl">The URL the target answered 410 Gone at, when it is disabled; null when it is not.</param>
public sealed record DueTarget(string Client, string Target, string? DisabledUrl);

/// <summary>Where a delivery stands.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<WebhookDeliveryState>))]
public enum WebhookDeliveryState
{
    /// <summary>Waiting for its next attempt (or being attempted).</summary>
    [JsonStringEnumMemberName("pending")]
    Pending,

    /// <summary>The receiver answered 2xx.</summary>
    [JsonStringEnumMemberName("delivered")]
    Delivered,

    /// <summary>Given up: retried for <c>Webhooks:RetryFor</c>, refused (address, allow-list), or its endpoint disabled (410).</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,
}

/// <summary>One delivery as the outbox keeps it.</summary>
public sealed record WebhookDelivery(
    string Id,
    long EventSequence,
    string GenerationId,
    string EventType,
    string OwnerClient,
    string? OwnerUser,
    string Target,
    string? Endpoint,
    string Url,
    WebhookDeliveryState State,
    int Attempts,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? DeliveredAt,
    int? LastStatus,
    string? LastError)
{
    /// <summary>The event it reports (with the claim; not on lists).</summary>
    public GenerationEvent? Event { get; init; }
}

/// <summary>How an attempt ended.</summary>
/// <param name="Id">The delivery.</param>
/// <param name="Attempts">Its attempt count as claimed: the record holds only if no one claimed it since.</param>
/// <param name="State">Pending (another attempt at <paramref name="NextAttemptAt"/>), delivered or failed.</param>
/// <param name="Now">When the attempt ended.</param>
/// <param name="NextAttemptAt">When pending: the next attempt.</param>
/// <param name="Status">The receiver's HTTP status, when it answered.</param>
/// <param name="Error">What went wrong, when something did (bounded, never a secret).</param>
public sealed record WebhookAttempt(
    string Id, int Attempts, WebhookDeliveryState State, DateTimeOffset Now, DateTimeOffset? NextAttemptAt, int? Status, string? Error);

/// <summary>What to list.</summary>
/// <param name="Owner">Only deliveries of this owner's generations; null lists every owner's (an admin).</param>
/// <param name="GenerationId">Only this generation's.</param>
/// <param name="State">Only in this state.</param>
/// <param name="Limit">Page size.</param>
/// <param name="After">Start after this position.</param>
public sealed record WebhookDeliveryQuery(
    GenerationOwner? Owner, string? GenerationId, WebhookDeliveryState? State, int Limit, WebhookDeliveryCursor? After);

/// <summary>One page of deliveries, newest first.</summary>
public sealed record WebhookDeliveryPage(IReadOnlyList<WebhookDelivery> Items, WebhookDeliveryCursor? Next);

/// <summary>A position in the newest-first list of deliveries (keyset: creation time, then id).</summary>
public readonly record struct WebhookDeliveryCursor(DateTimeOffset CreatedAt, string Id)
{
    public override string ToString() => System.Buffers.Text.Base64Url.EncodeToString(
        System.Text.Encoding.UTF8.GetBytes(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"1.{CreatedAt.UtcTicks}.{Id}")));

    public static bool TryParse(string? value, out WebhookDeliveryCursor cursor)
    {
        cursor = default;
        if (string.IsNullOrEmpty(value) || value.Length > 128 || !System.Buffers.Text.Base64Url.IsValid(value))
        {
            return false;
        }

        string text;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(System.Buffers.Text.Base64Url.DecodeFromChars(value));
        }
        catch (FormatException)
        {
            return false;
        }

        var parts = text.Split('.');
        if (parts.Length != 3 || parts[0] != "1"
            || !long.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ticks)
            || ticks > DateTimeOffset.MaxValue.UtcTicks || !WebhookDeliveryId.IsWellFormed(parts[2]))
        {
            return false;
        }

        cursor = new WebhookDeliveryCursor(new DateTimeOffset(ticks, TimeSpan.Zero), parts[2]);
        return true;
    }
}
