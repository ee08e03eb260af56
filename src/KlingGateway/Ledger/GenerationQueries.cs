using System.Data.Common;
using System.Globalization;
using KlingGateway.Generations;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>The reads of generations: one by id, a page of a list, and the sweeps' selections and counts.</summary>
internal sealed class GenerationQueries(LedgerDatabase database)
{
    public async Task<Generation?> FindAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);

        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = GenerationRows.SelectColumns + "\nWHERE id = @id;";
        Add(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? GenerationRows.Read(reader) : null;
    }

    public async Task<GenerationPage> ListAsync(GenerationQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, GenerationQuery.MaxLimit);

        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();

        var page = new LedgerPage(command, GenerationRows.SelectColumns);
        if (query.Status is { } status)
        {
            page.Where("status = @status", "@status", status.ToApiString());
        }

        if (query.Model is not null)
        {
            page.Where("model = @model", "@model", query.Model);
        }

        if (query.Owner is { } owner)
        {
            page.WhereOwnedBy(owner);
        }

        if (query.After is { } after)
        {
            page.After(after.CreatedAt, after.Id);
        }

        var (items, more) = await page.ReadAsync(query.Limit, GenerationRows.Read, cancellationToken);
        return new GenerationPage(items, more ? new GenerationCursor(items[^1].CreatedAt, items[^1].Id) : null);
    }

    public Task<IReadOnlyList<Generation>> FindOverdueAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken) =>
        SelectAsync($"""
            {GenerationRows.SelectColumns}
            WHERE {GenerationRows.Unfinished} AND upstream_id IS NOT NULL AND created_at <= @before
            ORDER BY created_at
            LIMIT @limit;
            """,
            command =>
            {
                Add(command, "@before", FormatTimestamp(createdBefore));
                Add(command, "@limit", limit);
            }, cancellationToken);

    public Task<IReadOnlyList<Generation>> FindRetentionDueAsync(DateTimeOffset completedBefore, int limit, CancellationToken cancellationToken) =>
        SelectAsync($"""
            {GenerationRows.SelectColumns}
            WHERE video_state IN ('pending', 'stored', 'failed') AND completed_at <= @before
            ORDER BY completed_at
            LIMIT @limit;
            """,
            command =>
            {
                Add(command, "@before", FormatTimestamp(completedBefore));
                Add(command, "@limit", limit);
            }, cancellationToken);

    public async Task<LedgerStats> StatsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT
                (SELECT COUNT(*) FROM generations WHERE {GenerationRows.Unfinished}),
                (SELECT COUNT(*) FROM generations WHERE video_state = 'stored'),
                (SELECT COALESCE(SUM(video_stored_size), 0) FROM generations WHERE video_state = 'stored');
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new LedgerStats(
            Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture),
            Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture),
            Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture));
    }

    public async Task<IReadOnlyList<Generation>> FindUnansweredCreatesAsync(DateTimeOffset createdBefore, int limit, CancellationToken cancellationToken)
    {
        // The predicate is ix_generations_unanswered's, word for word, so both databases use that partial index.
        return await FindAsync(
            "WHERE status = 'queued' AND upstream_id IS NULL AND created_at < @at",
            FormatTimestamp(createdBefore), limit, cancellationToken);
    }

    public async Task<IReadOnlyList<Generation>> FindUnknownBillingAsync(DateTimeOffset createdSince, int limit, CancellationToken cancellationToken)
    {
        return await FindAsync(
            "WHERE billing = 'unknown' AND upstream_request_id IS NOT NULL AND created_at >= @at",
            FormatTimestamp(createdSince), limit, cancellationToken);
    }

    /// <summary>At most <paramref name="limit"/> generations matching <paramref name="where"/> (on <c>@at</c>), oldest first.</summary>
    private async Task<IReadOnlyList<Generation>> FindAsync(string where, string at, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"{GenerationRows.SelectColumns}\n{where}\nORDER BY created_at, id\nLIMIT @limit;";
        Add(command, "@at", at);
        Add(command, "@limit", limit);
        var found = new List<Generation>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(GenerationRows.Read(reader));
        }

        return found;
    }

    private async Task<IReadOnlyList<Generation>> SelectAsync(string sql, Action<DbCommand> parameters, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        parameters(command);
        var found = new List<Generation>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(GenerationRows.Read(reader));
        }

        return found;
    }
}
