using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using KlingGateway.Generations;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// Idempotency keys: claimed by a create before anything is spent, linked to its generation, completed with the
/// answer given (replayed as it was), released when nothing was started, and closed or dropped by the sweeps.
/// </summary>
internal sealed class IdempotencyKeys(LedgerDatabase database)
{
    private const string IdempotencyColumns =
        "client, idempotency_key, request_hash, generation_id, status_code, problem_code, created_at, expires_at, problem";

    public async Task<IdempotencyRecord?> ClaimIdempotencyKeyAsync(IdempotencyClaim claim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);

        return await database.WriteAsync<IdempotencyRecord?>(null, async (connection, transaction, token) =>
        {
            await using (var statement = database.Statement(connection, transaction,
                "DELETE FROM idempotency_keys WHERE client = @client AND idempotency_key = @key AND expires_at <= @now;"))
            {
                var expired = statement.Command;
                Add(expired, "@client", claim.Client);
                Add(expired, "@key", claim.Key);
                Add(expired, "@now", FormatTimestamp(claim.CreatedAt));
                await expired.ExecuteNonQueryAsync(token);
            }

            // The primary key (client, idempotency_key) decides between simultaneous requests, on one replica or many.
            await using (var statement = database.Statement(connection, transaction, $"""
                INSERT INTO idempotency_keys ({IdempotencyColumns})
                VALUES (@client, @key, @request_hash, NULL, NULL, NULL, @created_at, @expires_at, NULL)
                ON CONFLICT (client, idempotency_key) DO NOTHING;
                """))
            {
                var insert = statement.Command;
                Add(insert, "@client", claim.Client);
                Add(insert, "@key", claim.Key);
                Add(insert, "@request_hash", claim.RequestHash);
                Add(insert, "@created_at", FormatTimestamp(claim.CreatedAt));
                Add(insert, "@expires_at", FormatTimestamp(claim.ExpiresAt));
                if (await insert.ExecuteNonQueryAsync(token) == 1)
                {
                    return null;
                }
            }

            return await FindIdempotencyKeyAsync(connection, transaction, claim.Client, claim.Key, claim.CreatedAt, token)
                // Expired and removed between the two statements: report it as held, the caller's next look decides.
                ?? new IdempotencyRecord(claim.Client, claim.Key, claim.RequestHash, null, null, null, claim.CreatedAt, claim.ExpiresAt);
        }, cancellationToken);
    }

    public async Task<IdempotencyRecord?> FindIdempotencyKeyAsync(string client, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await FindIdempotencyKeyAsync(connection, null, client, key, now, cancellationToken);
    }

    public async Task CompleteIdempotencyKeyAsync(string client, string key, int statusCode, StoredProblem? problem, CancellationToken cancellationToken)
    {
        await database.WriteAsync(null, async (connection, transaction, token) =>
        {
            await using var statement = database.Statement(connection, transaction, """
                UPDATE idempotency_keys SET status_code = @status_code, problem_code = @problem_code, problem = @problem
                WHERE client = @client AND idempotency_key = @key;
                """);
            var command = statement.Command;
            Add(command, "@status_code", statusCode);
            Add(command, "@problem_code", problem?.Code);
            Add(command, "@problem", problem is null ? null : JsonSerializer.Serialize(problem, LedgerJsonContext.Default.StoredProblem));
            Add(command, "@client", client);
            Add(command, "@key", key);
            await command.ExecuteNonQueryAsync(token);
            return 0;
        }, cancellationToken);
    }

    public async Task ReleaseIdempotencyKeyAsync(string client, string key, CancellationToken cancellationToken)
    {
        await database.WriteAsync(null, async (connection, transaction, token) =>
        {
            // Only a key not yet completed: a completed one is the record of an answer and stays until it expires.
            await using var statement = database.Statement(connection, transaction,
                "DELETE FROM idempotency_keys WHERE client = @client AND idempotency_key = @key AND status_code IS NULL;");
            var command = statement.Command;
            Add(command, "@client", client);
            Add(command, "@key", key);
            await command.ExecuteNonQueryAsync(token);
            return 0;
        }, cancellationToken);
    }

    public async Task<int> DeleteExpiredIdempotencyKeysAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        return await database.WriteAsync(null, async (connection, transaction, token) =>
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM idempotency_keys WHERE expires_at <= @now;";
            Add(command, "@now", FormatTimestamp(now));
            return await command.ExecuteNonQueryAsync(token);
        }, cancellationToken);
    }

    private static async Task<IdempotencyRecord?> FindIdempotencyKeyAsync(
        DbConnection connection, DbTransaction? transaction, string client, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT {IdempotencyColumns} FROM idempotency_keys WHERE client = @client AND idempotency_key = @key AND expires_at > @now;";
        Add(command, "@client", client);
        Add(command, "@key", key);
        Add(command, "@now", FormatTimestamp(now));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return ReadIdempotencyRecord(reader);
    }

    public async Task<int> CloseInterruptedIdempotencyKeysAsync(StoredProblem answer, DateTimeOffset claimedBefore, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answer);

        return await database.WriteAsync(null, async (connection, transaction, token) =>
        {
            int closed;
            // Open keys are few (ix_idempotency_keys_open); each looks up its generation by primary key.
            await using (var statement = database.Statement(connection, transaction, """
                UPDATE idempotency_keys SET status_code = @status_code, problem_code = @problem_code, problem = @problem
                WHERE status_code IS NULL AND generation_id IS NOT NULL
                  AND EXISTS (SELECT 1 FROM generations g
                              WHERE g.id = idempotency_keys.generation_id AND g.error_code = @interrupted);
                """))
            {
                var complete = statement.Command;
                Add(complete, "@status_code", answer.Status);
                Add(complete, "@problem_code", answer.Code);
                Add(complete, "@problem", JsonSerializer.Serialize(answer, LedgerJsonContext.Default.StoredProblem));
                Add(complete, "@interrupted", GenerationErrorCodes.Interrupted);
                closed = await complete.ExecuteNonQueryAsync(token);
            }

            await using (var statement = database.Statement(connection, transaction,
                "DELETE FROM idempotency_keys WHERE status_code IS NULL AND generation_id IS NULL AND created_at < @before;"))
            {
                var drop = statement.Command;
                Add(drop, "@before", FormatTimestamp(claimedBefore));
                closed += await drop.ExecuteNonQueryAsync(token);
            }

            return closed;
        }, cancellationToken);
    }

    private static IdempotencyRecord ReadIdempotencyRecord(DbDataReader reader)
    {
        var problem = GetStringOrNull(reader, 8);
        return new IdempotencyRecord(
            reader.GetString(0),
            reader.GetString(1),
            reader.GetString(2),
            GetStringOrNull(reader, 3),
            reader.IsDBNull(4) ? null : Convert.ToInt32(reader.GetValue(4), CultureInfo.InvariantCulture),
            GetStringOrNull(reader, 5),
            ParseTimestamp(reader.GetString(6)),
            ParseTimestamp(reader.GetString(7)))
        {
            Problem = problem is null ? null : JsonSerializer.Deserialize(problem, LedgerJsonContext.Default.StoredProblem),
        };
    }
}
