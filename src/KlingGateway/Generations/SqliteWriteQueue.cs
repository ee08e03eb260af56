using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace KlingGateway.Generations;

/// <summary>
/// Every ledger write goes through one connection that commits them in groups: the writes waiting when a commit
/// ends go into the next transaction together. SQLite takes one writer at a time whatever the caller does; with a
/// connection per write, concurrent writers met on the file's lock and slept in the busy handler, so under load a
/// create waited tens of milliseconds for a write that takes tens of microseconds. Here no caller holds a lock or
/// sleeps: each awaits its own write's outcome, and a group costs one commit.
/// </summary>
/// <remarks>
/// A statement that fails (a constraint, say) fails only its own write; SQLite aborts that statement and keeps the
/// transaction. A failed commit fails every write of its group. A write whose caller cancelled before its group
/// began is skipped; once begun it completes. Statements are prepared once per connection and reused.
/// </remarks>
internal sealed class SqliteWriteQueue : IDisposable
{
    // Enough to amortize a commit, small enough that a group never holds the write lock for long.
    private const int MaxGroup = 256;

    private readonly Func<CancellationToken, Task<SqliteConnection>> _open;
    private readonly Channel<Write> _writes = Channel.CreateUnbounded<Write>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _startLock = new();
    private Task? _loop;

    /// <param name="open">Opens a connection with the ledger's per-connection settings.</param>
    public SqliteWriteQueue(Func<CancellationToken, Task<SqliteConnection>> open) => _open = open;

    /// <summary>Runs one statement, prepared by <paramref name="prepare"/> on the writer's command for that SQL, in the next group.</summary>
    /// <returns>The number of rows it changed.</returns>
    public Task<int> ExecuteAsync(string sql, Action<SqliteParameterCollection> prepare, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var write = new Write(sql, prepare, cancellationToken);
        if (!_writes.Writer.TryWrite(write))
        {
            throw new ObjectDisposedException(nameof(SqliteGenerationStore));
        }

        EnsureStarted();
        return write.Completion.Task;
    }

    private void EnsureStarted()
    {
        if (Volatile.Read(ref _loop) is not null)
        {
            return;
        }

        lock (_startLock)
        {
            _loop ??= Task.Run(RunAsync);
        }
    }

    private async Task RunAsync()
    {
        SqliteConnection? connection = null;
        var commands = new Dictionary<string, SqliteCommand>(StringComparer.Ordinal);
        var group = new List<Write>(MaxGroup);
        try
        {
            while (await _writes.Reader.WaitToReadAsync())
            {
                group.Clear();
                while (group.Count < MaxGroup && _writes.Reader.TryRead(out var write))
                {
                    if (write.CancellationToken.IsCancellationRequested)
                    {
                        write.Completion.TrySetCanceled(write.CancellationToken);
                        continue;
                    }

                    group.Add(write);
                }

                if (group.Count == 0)
                {
                    continue;
                }

                try
                {
                    connection ??= await _open(CancellationToken.None);
                    RunGroup(connection, commands, group);
                }
                catch (Exception exception)
                {
                    // The connection may be broken (file gone, disk full): start afresh for the next group.
                    foreach (var write in group)
                    {
                        write.Completion.TrySetException(exception);
                    }

                    DisposeAll(commands);
                    connection?.Dispose();
                    connection = null;
                }
            }
        }
        finally
        {
            DisposeAll(commands);
            connection?.Dispose();
        }
    }

    private static void RunGroup(SqliteConnection connection, Dictionary<string, SqliteCommand> commands, List<Write> group)
    {
        var rows = new int[group.Count];
        var failures = new Exception?[group.Count];
        using (var transaction = connection.BeginTransaction(deferred: false))
        {
            for (var i = 0; i < group.Count; i++)
            {
                var write = group[i];
                if (!commands.TryGetValue(write.Sql, out var command))
                {
                    command = connection.CreateCommand();
                    command.CommandText = write.Sql;
                    commands[write.Sql] = command;
                }

                command.Transaction = transaction;
                try
                {
                    command.Parameters.Clear();
                    write.Prepare(command.Parameters);
                    rows[i] = command.ExecuteNonQuery();
                }
                catch (Exception exception) when (exception is SqliteException { SqliteErrorCode: SQLitePCL.raw.SQLITE_CONSTRAINT }
                    or ArgumentException)
                {
                    failures[i] = exception;
                }
            }

            transaction.Commit();
        }

        for (var i = 0; i < group.Count; i++)
        {
            if (failures[i] is { } failure)
            {
                group[i].Completion.TrySetException(failure);
            }
            else
            {
                group[i].Completion.TrySetResult(rows[i]);
            }
        }
    }

    private static void DisposeAll(Dictionary<string, SqliteCommand> commands)
    {
        foreach (var command in commands.Values)
        {
            command.Dispose();
        }

        commands.Clear();
    }

    /// <summary>Stops taking writes, lets the queued ones finish, and closes the writer's connection.</summary>
    public void Dispose()
    {
        _writes.Writer.TryComplete();
        Task? loop;
        lock (_startLock)
        {
            loop = _loop;
        }

        loop?.Wait(TimeSpan.FromSeconds(10));
    }

    private sealed class Write(string sql, Action<SqliteParameterCollection> prepare, CancellationToken cancellationToken)
    {
        public string Sql { get; } = sql;

        public Action<SqliteParameterCollection> Prepare { get; } = prepare;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public TaskCompletionSource<int> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
