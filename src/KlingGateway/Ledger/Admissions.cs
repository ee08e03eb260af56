using System.Globalization;
using KlingGateway.Generations;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// Admission: under the client's lock, the client's in-flight count and day's spend checked against its limits and, when
/// admitted, the generation inserted with its first event and linked to its idempotency key, all in one write. And the
/// usage report those limits are counted from.
/// </summary>
internal sealed class Admissions(LedgerDatabase database, EventRecorder events)
{
    public async Task<Admission> AdmitAsync(
        Generation generation, AdmissionLimits limits, string? idempotencyKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(limits);

        var queued = EventRecorder.EventOf(GenerationChangeKind.Updated, generation);
        var result = await database.WriteAsync(generation.OwnerClient, async (connection, transaction, token) =>
        {
            int inFlight = 0, seconds = 0;
            long costMicros = 0;
            // With no limit to check, the admission is the insert alone: the sums below grow with the client's day.
            var checks = limits.MaxInFlight is not null || limits.DailyVideoSeconds is not null || limits.DailyBudgetUsd is not null;
            if (checks)
            {
                // Read under the client's lock: no other admission for this client can insert between this read and the insert below.
                await using var statement = database.Statement(connection, transaction, $"""
                    SELECT
                        (SELECT COUNT(*) FROM generations
                         WHERE owner_client = @client AND {GenerationRows.Unfinished} AND created_at >= @in_flight_since),
                        (SELECT COALESCE(SUM(video_seconds), 0) FROM generations
                         WHERE owner_client = @client AND refunded = 0 AND created_at >= @day_start),
                        (SELECT COALESCE(SUM(cost_micros), 0) FROM generations
                         WHERE owner_client = @client AND refunded = 0 AND created_at >= @day_start);
                    """);
                var state = statement.Command;
                Add(state, "@client", generation.OwnerClient);
                Add(state, "@in_flight_since", FormatTimestamp(limits.InFlightSince));
                Add(state, "@day_start", FormatTimestamp(limits.DayStart));
                await using var reader = await state.ExecuteReaderAsync(token);
                await reader.ReadAsync(token);
                inFlight = Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture);
                seconds = Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture);
                costMicros = Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture);
            }

            var spentUsd = costMicros / MicrosPerUsd;
            var refusal =
                limits.MaxInFlight is { } maxInFlight && inFlight >= maxInFlight ? AdmissionRefusal.InFlight
                : limits.DailyVideoSeconds is { } maxSeconds && seconds + generation.VideoSeconds > maxSeconds ? AdmissionRefusal.VideoSeconds
                : limits.DailyBudgetUsd is { } maxUsd && costMicros + ToMicros(generation.CostUsd) > ToMicros(maxUsd) ? AdmissionRefusal.Budget
                : AdmissionRefusal.None;
            var admission = new Admission(refusal, inFlight, seconds, spentUsd);
            if (!admission.Admitted)
            {
                // Nothing written: the lock's transaction ends with no change.
                return admission;
            }

            await using (var insert = database.Statement(connection, transaction, GenerationRows.InsertSql))
            {
                GenerationRows.AddParameters(insert.Command, generation);
                await insert.Command.ExecuteNonQueryAsync(token);
            }

            // Its first event, generation.queued, is born with it.
            await events.RecordAsync(connection, transaction, generation, generation.Version, queued, token);

            if (idempotencyKey is not null)
            {
                await using var statement = database.Statement(connection, transaction,
                    "UPDATE idempotency_keys SET generation_id = @generation_id WHERE client = @client AND idempotency_key = @key;");
                var link = statement.Command;
                Add(link, "@generation_id", generation.Id);
                Add(link, "@client", generation.OwnerClient);
                Add(link, "@key", idempotencyKey);
                await link.ExecuteNonQueryAsync(token);
            }

            return admission;
        }, cancellationToken);
        if (result.Admitted)
        {
            events.Committed(deliveries: events.HasDeliveries(generation, queued));
        }

        return result;
    }

    public async Task<UsageReport> UsageAsync(string client, DateTimeOffset from, DateTimeOffset inFlightSince, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);

        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = new List<UsageRow>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT SUBSTR(created_at, 1, 10) AS day, model, COUNT(*), COALESCE(SUM(video_seconds), 0), COALESCE(SUM(cost_micros), 0)
                FROM generations
                WHERE owner_client = @client AND refunded = 0 AND created_at >= @from
                GROUP BY SUBSTR(created_at, 1, 10), model
                ORDER BY day DESC, model;
                """;
            Add(command, "@client", client);
            Add(command, "@from", FormatTimestamp(from));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new UsageRow(
                    reader.GetString(0),
                    reader.GetString(1),
                    Convert.ToInt32(reader.GetValue(2), CultureInfo.InvariantCulture),
                    Convert.ToInt32(reader.GetValue(3), CultureInfo.InvariantCulture),
                    Convert.ToInt64(reader.GetValue(4), CultureInfo.InvariantCulture) / MicrosPerUsd));
            }
        }

        await using var count = connection.CreateCommand();
        count.CommandText = $"SELECT COUNT(*) FROM generations WHERE owner_client = @client AND {GenerationRows.Unfinished} AND created_at >= @since;";
        Add(count, "@client", client);
        Add(count, "@since", FormatTimestamp(inFlightSince));
        var inFlight = Convert.ToInt32(await count.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        return new UsageReport(rows, inFlight);
    }
}
