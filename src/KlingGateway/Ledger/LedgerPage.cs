using System.Data.Common;
using System.Text;
using KlingGateway.Generations;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// One page of a list, newest first, over a table keyed by <c>(created_at, id)</c>: the generations and the webhook
/// deliveries. Conditions are fixed fragments joined with AND; every value goes in as a parameter.
/// </summary>
internal sealed class LedgerPage(DbCommand command, string select)
{
    private readonly List<string> _conditions = new(5);

    /// <summary>Adds <paramref name="condition"/>, which names the parameter <paramref name="name"/>, set to <paramref name="value"/>.</summary>
    public void Where(string condition, string name, object? value)
    {
        _conditions.Add(condition);
        Add(command, name, value);
    }

    /// <summary>Only what <paramref name="owner"/> owns: the client's, and of those the user's (or no user's).</summary>
    public void WhereOwnedBy(GenerationOwner owner)
    {
        Where("owner_client = @owner_client", "@owner_client", owner.Client);
        if (owner.User is null)
        {
            _conditions.Add("owner_user IS NULL");
        }
        else
        {
            Where("owner_user = @owner_user", "@owner_user", owner.User);
        }
    }

    /// <summary>Row-value comparison: strictly after the cursor in (created_at desc, id desc) order, index-friendly.</summary>
    public void After(DateTimeOffset createdAt, string id)
    {
        _conditions.Add("(created_at, id) < (@after_created_at, @after_id)");
        Add(command, "@after_created_at", FormatTimestamp(createdAt));
        Add(command, "@after_id", id);
    }

    /// <summary>
    /// Runs the query for <paramref name="limit"/> rows and one more, which tells whether there is a next page without
    /// a second query: the page's rows, and whether more follow.
    /// </summary>
    public async Task<(List<T> Items, bool More)> ReadAsync<T>(int limit, Func<DbDataReader, T> read, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder(select);
        if (_conditions.Count > 0)
        {
            sql.Append("\nWHERE ").AppendJoin(" AND ", _conditions);
        }

        sql.Append("\nORDER BY created_at DESC, id DESC\nLIMIT @limit;");
        Add(command, "@limit", limit + 1);
        command.CommandText = sql.ToString();

        var items = new List<T>(limit + 1);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(read(reader));
            }
        }

        if (items.Count <= limit)
        {
            return (items, false);
        }

        items.RemoveAt(items.Count - 1);
        return (items, true);
    }
}
