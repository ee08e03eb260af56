using System.Data.Common;
using System.Globalization;
using KlingGateway.Events;
using KlingGateway.Webhooks;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// The webhook outbox (<see cref="IWebhookOutbox"/>): its deliveries claimed, attempted, listed and redelivered, and
/// targets disabled and enabled. Its rows are written by <see cref="EventRecorder"/> with the event they deliver.
/// </summary>
internal sealed class WebhookOutboxRows(LedgerDatabase database, IEventLog eventLog, EventRecorder recorder) : IWebhookOutbox
{
    private const string DeliveryColumns = """
        id, event_seq, generation_id, event_type, owner_client, owner_user, target, endpoint, url,
        state, attempts, next_attempt_at, expires_at, created_at, updated_at, delivered_at, last_status, last_error
        """;

    private const string DeliveryDue = "state = 'pending' AND next_attempt_at <= @now";

    public async Task<IReadOnlyList<DueTarget>> FindDueTargetsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        // Only deliveries that could be claimed now count: one waiting behind an earlier event of its generation does
        // not, so targets held up by a retrying receiver never crowd out the others in the first page.
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT d.owner_client, d.target, MAX(x.url)
            FROM webhook_deliveries d
            LEFT JOIN webhook_targets_disabled x ON x.owner_client = d.owner_client AND x.target = d.target
            WHERE d.state = 'pending' AND d.next_attempt_at <= @now
              AND NOT EXISTS (
                  SELECT 1 FROM webhook_deliveries e
                  WHERE e.state = 'pending' AND e.generation_id = d.generation_id AND e.target = d.target
                    AND e.owner_client = d.owner_client AND e.event_seq < d.event_seq)
            GROUP BY d.owner_client, d.target
            ORDER BY MIN(d.next_attempt_at)
            LIMIT @limit;
            """;
        Add(command, "@now", FormatTimestamp(now));
        Add(command, "@limit", limit);
        var targets = new List<DueTarget>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            targets.Add(new DueTarget(reader.GetString(0), reader.GetString(1), GetStringOrNull(reader, 2)));
        }

        return targets;
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ClaimAsync(
        string client, string target, DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken)
    {
        var claimed = await database.WriteTransactionAsync<IReadOnlyList<WebhookDelivery>>(async (connection, transaction, token) =>
        {
            // One conditional update. The inner select takes, per generation, only a delivery with no earlier pending one
            // for the same target; the outer condition repeats the due test, so a row another replica claimed meanwhile
            // is not taken twice.
            await using var statement = database.Statement(connection, transaction, $"""
                UPDATE webhook_deliveries SET next_attempt_at = @lease_until, attempts = attempts + 1, updated_at = @now
                WHERE id IN (
                    SELECT d.id FROM webhook_deliveries d
                    WHERE d.state = 'pending' AND d.next_attempt_at <= @now AND d.owner_client = @client AND d.target = @target
                      AND NOT EXISTS (
                          SELECT 1 FROM webhook_deliveries e
                          WHERE e.state = 'pending' AND e.generation_id = d.generation_id AND e.target = d.target
                            AND e.owner_client = d.owner_client AND e.event_seq < d.event_seq)
                    ORDER BY d.event_seq
                    LIMIT @limit {database.SkipLocked})
                  AND {DeliveryDue}
                RETURNING {DeliveryColumns};
                """);
            var command = statement.Command;
            Add(command, "@lease_until", FormatTimestamp(leaseUntil));
            Add(command, "@now", FormatTimestamp(now));
            Add(command, "@client", client);
            Add(command, "@target", target);
            Add(command, "@limit", limit);
            var deliveries = new List<WebhookDelivery>();
            await using var reader = await command.ExecuteReaderAsync(token);
            while (await reader.ReadAsync(token))
            {
                deliveries.Add(ReadDelivery(reader));
            }

            return deliveries;
        }, cancellationToken);

        if (claimed.Count == 0)
        {
            return claimed;
        }

        var events = (await eventLog.ReadSequencesAsync([.. claimed.Select(d => d.EventSequence).Distinct()], cancellationToken))
            .ToDictionary(e => e.Sequence);
        return [.. claimed.Select(d => d with { Event = events.GetValueOrDefault(d.EventSequence) })];
    }

    public async Task<bool> RecordAttemptAsync(WebhookAttempt attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            await using var statement = database.Statement(connection, transaction, """
                UPDATE webhook_deliveries SET state = @state, next_attempt_at = @next_attempt_at, updated_at = @now,
                    delivered_at = @delivered_at, last_status = @last_status, last_error = @last_error
                WHERE id = @id AND state = 'pending' AND attempts = @attempts;
                """);
            var command = statement.Command;
            Add(command, "@state", StateText(attempt.State));
            Add(command, "@next_attempt_at", FormatTimestamp(attempt.NextAttemptAt));
            Add(command, "@now", FormatTimestamp(attempt.Now));
            Add(command, "@delivered_at", attempt.State == WebhookDeliveryState.Delivered ? FormatTimestamp(attempt.Now) : null);
            Add(command, "@last_status", attempt.Status);
            Add(command, "@last_error", attempt.Error);
            Add(command, "@id", attempt.Id);
            Add(command, "@attempts", attempt.Attempts);
            return await command.ExecuteNonQueryAsync(token) == 1;
        }, cancellationToken);
    }

    public async Task<int> DisableTargetAsync(string client, string target, string url, DateTimeOffset now, CancellationToken cancellationToken) =>
        await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            await using (var statement = database.Statement(connection, transaction, """
                INSERT INTO webhook_targets_disabled (owner_client, target, url, disabled_at) VALUES (@client, @target, @url, @now)
                ON CONFLICT (owner_client, target) DO UPDATE SET url = @url, disabled_at = @now;
                """))
            {
                Add(statement.Command, "@client", client);
                Add(statement.Command, "@target", target);
                Add(statement.Command, "@url", url);
                Add(statement.Command, "@now", FormatTimestamp(now));
                await statement.Command.ExecuteNonQueryAsync(token);
            }

            return await FailPendingAsync(connection, transaction, client, target, DisabledError, now, token);
        }, cancellationToken);

    /// <summary>The error of a delivery given up because its target was disabled.</summary>
    public const string DisabledError = "The endpoint answered 410 Gone and is disabled; redeliver a delivery once it is back, or change its URL.";

    public async Task<int> FailTargetAsync(string client, string target, string error, DateTimeOffset now, CancellationToken cancellationToken) =>
        await database.WriteTransactionAsync((connection, transaction, token) => FailPendingAsync(connection, transaction, client, target, error, now, token),
            cancellationToken);

    private async Task<int> FailPendingAsync(
        DbConnection connection, DbTransaction? transaction, string client, string target, string error, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var statement = database.Statement(connection, transaction, """
            UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, updated_at = @now, last_error = @error
            WHERE state = 'pending' AND owner_client = @client AND target = @target;
            """);
        Add(statement.Command, "@now", FormatTimestamp(now));
        Add(statement.Command, "@error", error);
        Add(statement.Command, "@client", client);
        Add(statement.Command, "@target", target);
        return await statement.Command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task EnableTargetAsync(string client, string target, CancellationToken cancellationToken) =>
        await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            await using var statement = database.Statement(connection, transaction,
                "DELETE FROM webhook_targets_disabled WHERE owner_client = @client AND target = @target;");
            Add(statement.Command, "@client", client);
            Add(statement.Command, "@target", target);
            return await statement.Command.ExecuteNonQueryAsync(token);
        }, cancellationToken);

    public async Task<WebhookDeliveryPage> ListDeliveriesAsync(WebhookDeliveryQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1);

        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var page = new LedgerPage(command, $"SELECT {DeliveryColumns} FROM webhook_deliveries");
        if (query.Owner is { } owner)
        {
            page.WhereOwnedBy(owner);
        }

        if (query.GenerationId is not null)
        {
            page.Where("generation_id = @generation_id", "@generation_id", query.GenerationId);
        }

        if (query.State is { } state)
        {
            page.Where("state = @state", "@state", StateText(state));
        }

        if (query.After is { } after)
        {
            page.After(after.CreatedAt, after.Id);
        }

        var (items, more) = await page.ReadAsync(query.Limit, ReadDelivery, cancellationToken);
        return new WebhookDeliveryPage(items, more ? new WebhookDeliveryCursor(items[^1].CreatedAt, items[^1].Id) : null);
    }

    public async Task<WebhookDelivery?> FindDeliveryAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE id = @id;";
        Add(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadDelivery(reader) : null;
    }

    public async Task<WebhookDelivery?> RedeliverAsync(string id, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var delivery = await database.WriteTransactionAsync(async (connection, transaction, token) =>
        {
            await using (var statement = database.Statement(connection, transaction, """
                UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = @now, expires_at = @expires_at, updated_at = @now
                WHERE id = @id AND state <> 'pending';
                """))
            {
                Add(statement.Command, "@now", FormatTimestamp(now));
                Add(statement.Command, "@expires_at", FormatTimestamp(expiresAt));
                Add(statement.Command, "@id", id);
                await statement.Command.ExecuteNonQueryAsync(token);
            }

            WebhookDelivery? found;
            await using (var statement = database.Statement(connection, transaction, $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE id = @id;"))
            {
                Add(statement.Command, "@id", id);
                await using var reader = await statement.Command.ExecuteReaderAsync(token);
                found = await reader.ReadAsync(token) ? ReadDelivery(reader) : null;
            }

            if (found is not null)
            {
                // A redelivery says the receiver is back: its target takes deliveries again.
                await using var statement = database.Statement(connection, transaction,
                    "DELETE FROM webhook_targets_disabled WHERE owner_client = @client AND target = @target;");
                Add(statement.Command, "@client", found.OwnerClient);
                Add(statement.Command, "@target", found.Target);
                await statement.Command.ExecuteNonQueryAsync(token);
            }

            return found;
        }, cancellationToken);
        recorder.Committed();
        return delivery;
    }

    public async Task<long> PendingDeliveriesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending';";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static string StateText(WebhookDeliveryState state) => state switch
    {
        WebhookDeliveryState.Pending => "pending",
        WebhookDeliveryState.Delivered => "delivered",
        WebhookDeliveryState.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    private static WebhookDeliveryState ParseState(string text) => text switch
    {
        "pending" => WebhookDeliveryState.Pending,
        "delivered" => WebhookDeliveryState.Delivered,
        "failed" => WebhookDeliveryState.Failed,
        _ => throw new InvalidDataException($"The ledger holds an unknown delivery state '{text}'."),
    };

    private static WebhookDelivery ReadDelivery(DbDataReader reader) => new(
        reader.GetString(0),
        Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture),
        reader.GetString(2),
        reader.GetString(3),
        reader.GetString(4),
        GetStringOrNull(reader, 5),
        reader.GetString(6),
        GetStringOrNull(reader, 7),
        reader.GetString(8),
        ParseState(reader.GetString(9)),
        Convert.ToInt32(reader.GetValue(10), CultureInfo.InvariantCulture),
        GetTimestampOrNull(reader, 11),
        ParseTimestamp(reader.GetString(12)),
        ParseTimestamp(reader.GetString(13)),
        ParseTimestamp(reader.GetString(14)),
        GetTimestampOrNull(reader, 15),
        reader.IsDBNull(16) ? null : Convert.ToInt32(reader.GetValue(16), CultureInfo.InvariantCulture),
        GetStringOrNull(reader, 17));
}
