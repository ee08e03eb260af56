using System.Data.Common;
using KlingGateway.Events;
using KlingGateway.Generations;
using KlingGateway.Webhooks;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// Writes what a change a caller can see leaves behind, in the transaction of the change itself: its row in the event
/// log (the admission's <c>generation.queued</c> included), a webhook delivery row for every route the event takes, and,
/// on PostgreSQL, a <c>NOTIFY</c> that reaches the other replicas once it commits. Either all of it commits with the
/// change, or none of it.
/// </summary>
internal sealed class EventRecorder(LedgerDatabase database, ChangeFeed? feed)
{
    private const string InsertEventSql = """
        INSERT INTO generation_events (generation_id, version, type, owner_client, owner_user, occurred_at, final, snapshot)
        VALUES (@generation_id, @version, @type, @owner_client, @owner_user, @occurred_at, @final, @snapshot)
        RETURNING seq;
        """;

    private const string InsertDeliverySql = """
        INSERT INTO webhook_deliveries (
            id, event_seq, generation_id, event_type, owner_client, owner_user, target, endpoint, url,
            state, attempts, next_attempt_at, expires_at, created_at, updated_at)
        VALUES (
            @id, @event_seq, @generation_id, @event_type, @owner_client, @owner_user, @target, @endpoint, @url,
            'pending', 0, @now, @expires_at, @now, @now);
        """;

    /// <summary>The event of <paramref name="kind"/>, made before the write so the writer's transaction only inserts it.</summary>
    public static PendingEvent EventOf(GenerationChangeKind kind, Generation generation) => new(
        GenerationEventTypes.For(kind, generation), EventSnapshot.Serialize(generation), GenerationEventTypes.IsFinal(generation),
        DateTimeOffset.UtcNow);

    /// <summary>Inserts the event of a change at <paramref name="version"/>, its webhook deliveries, and the notice.</summary>
    public async Task RecordAsync(
        DbConnection connection, DbTransaction? transaction, Generation generation, long version, PendingEvent pending, CancellationToken cancellationToken)
    {
        long sequence;
        await using (var statement = database.Statement(connection, transaction, InsertEventSql))
        {
            var command = statement.Command;
            Add(command, "@generation_id", generation.Id);
            Add(command, "@version", version);
            Add(command, "@type", pending.Type);
            Add(command, "@owner_client", generation.OwnerClient);
            Add(command, "@owner_user", generation.OwnerUser);
            Add(command, "@occurred_at", FormatTimestamp(pending.At));
            Add(command, "@final", pending.Final ? 1 : 0);
            Add(command, "@snapshot", pending.Snapshot);
            sequence = ToInt64(await command.ExecuteScalarAsync(cancellationToken));
        }

        if (feed?.Routing is { } routing)
        {
            foreach (var route in routing.RoutesFor(generation.OwnerClient, pending.Type, generation.WebhookUrl))
            {
                await using var statement = database.Statement(connection, transaction, InsertDeliverySql);
                var command = statement.Command;
                Add(command, "@id", WebhookDeliveryId.New());
                Add(command, "@event_seq", sequence);
                Add(command, "@generation_id", generation.Id);
                Add(command, "@event_type", pending.Type);
                Add(command, "@owner_client", generation.OwnerClient);
                Add(command, "@owner_user", generation.OwnerUser);
                Add(command, "@target", route.Target);
                Add(command, "@endpoint", route.Endpoint);
                Add(command, "@url", route.Url);
                Add(command, "@now", FormatTimestamp(pending.At));
                Add(command, "@expires_at", FormatTimestamp(pending.At + routing.RetryFor));
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await database.NotifyAsync(connection, transaction, sequence, cancellationToken);
    }

    /// <summary>Whether <paramref name="pending"/>, an event of <paramref name="generation"/>, goes to any webhook.</summary>
    public bool HasDeliveries(Generation generation, PendingEvent pending) =>
        feed?.Routing?.RoutesFor(generation.OwnerClient, pending.Type, generation.WebhookUrl).Count > 0;

    /// <summary>
    /// Wakes this process's readers of the event log, once a write with events committed, and its webhook sender unless
    /// the write is known to have recorded no delivery (<paramref name="deliveries"/> false).
    /// </summary>
    public void Committed(bool deliveries = true) => feed?.Committed(deliveries);
}

/// <summary>An event about to be recorded, made before the write so the writer's transaction only inserts it.</summary>
internal sealed record PendingEvent(string Type, string Snapshot, bool Final, DateTimeOffset At);
