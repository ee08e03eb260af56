using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace KlingGateway.Ledger;

/// <summary>
/// The group writer's prepared statements, kept with its connection for the next write: parsing the insert cost more
/// than running it (docs/BENCHMARKS.md). Used by the one running writer only; emptied when its connection closes.
/// </summary>
internal sealed class SqliteStatementCache
{
    // The writes' statements are constants; a bound keeps a statement built per call from growing the cache. Room for the
    // ledger's, the event log's and the webhook outbox's.
    private const int MaxStatements = 64;

    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>The kept command for <paramref name="sql"/> on the writer's connection; a new one of its own once the cache is full.</summary>
    public StatementLease Lease(SqliteConnection writer, DbTransaction? transaction, string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            if (_commands.Count >= MaxStatements)
            {
                return StatementLease.New(writer, transaction, sql);
            }

            command = writer.CreateCommand();
            command.CommandText = sql;
            _commands.Add(sql, command);
        }

        command.Transaction = (SqliteTransaction?)transaction;
        command.Parameters.Clear();
        return new StatementLease(command, owned: false);
    }

    /// <summary>Disposes every kept command, before their connection closes.</summary>
    public void Clear()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
    }
}
