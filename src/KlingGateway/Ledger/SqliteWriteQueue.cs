using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace KlingGateway.Ledger;

/// <summary>
/// SQLite lets one connection write at a time, and a commit costs far more than the microseconds of a write. So the
/// writes of this process queue here and one writer commits all that are waiting together: one BEGIN IMMEDIATE,
/// the writes one after another in arrival order with a savepoint each, one COMMIT. A write that throws is rolled
/// back to its savepoint and fails its caller alone; the others land. Each runs under the file's write lock and
/// sees the writes before it, so an admission's read-then-insert is as exclusive as in a transaction of its own.
/// A caller's task completes only after its group committed, so a row is durable before anything it guards (an
/// upstream create) starts. Writers wait asynchronously, never in SQLite's busy handler, which sleeps in steps of
/// milliseconds (docs/BENCHMARKS.md). A caller cancelled before its write starts is taken out of the queue.
/// </summary>
internal sealed class SqliteWriteQueue(Func<CancellationToken, Task<SqliteConnection>> openWriter, SqliteCheckpoints checkpoints) : IDisposable
{
    // The most writes one group commits, so one transaction stays short when the queue is long.
    private const int MaxGroup = 256;

    // The writes waiting for the next group, and 1 while a writer is taking groups from it.
    private readonly ConcurrentQueue<QueuedWrite> _writes = new();
    private int _writing;

    // The group writer's own connection, opened (with its pragmas) once and kept: only the one running writer uses it.
    // A group that fails closes it, so the next group starts on a fresh connection. Its statements are kept with it.
    private SqliteConnection? _writer;
    private readonly SqliteStatementCache _statements = new();

    /// <summary>Queues <paramref name="work"/> for the next group; its task completes once that group committed.</summary>
    public Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        var write = new QueuedWrite<T>(work, cancellationToken);
        _writes.Enqueue(write);
        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            _ = Task.Run(WriteGroupsAsync, CancellationToken.None);
        }

        return write.Task;
    }

    /// <summary>On the writer's connection, the statement's kept command; elsewhere a new one.</summary>
    public StatementLease Statement(DbConnection connection, DbTransaction? transaction, string sql) =>
        ReferenceEquals(connection, _writer)
            ? _statements.Lease(_writer, transaction, sql)
            : StatementLease.New(connection, transaction, sql);

    /// <summary>Closes the writer's connection.</summary>
    public void Dispose() => CloseWriter();

    /// <summary>Commits groups until the queue is empty; only one runs at a time.</summary>
    private async Task WriteGroupsAsync()
    {
        var group = new List<QueuedWrite>();
        while (true)
        {
            while (group.Count < MaxGroup && _writes.TryDequeue(out var write))
            {
                if (write.TryStart())
                {
                    group.Add(write);
                }
            }

            if (group.Count == 0)
            {
                Volatile.Write(ref _writing, 0);
                // A write queued after the last look but before the flag dropped would otherwise wait for nobody.
                if (_writes.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            if (await CommitGroupAsync(group))
            {
                checkpoints.Committed();
            }

            group.Clear();
        }
    }

    /// <summary>Runs the group in one transaction and completes every caller; never throws. False when the group failed.</summary>
    private async Task<bool> CommitGroupAsync(List<QueuedWrite> group)
    {
        try
        {
            var connection = _writer ??= await openWriter(CancellationToken.None);
            await using var transaction = connection.BeginTransaction(deferred: false);
            var landed = new List<QueuedWrite>(group.Count);
            foreach (var write in group)
            {
                // The savepoints are kept statements too: SqliteTransaction.Save and Release parse theirs on every call.
                await RunKeptAsync(connection, transaction, "SAVEPOINT write;");
                try
                {
                    await write.RunAsync(connection, transaction);
                }
                catch (Exception exception)
                {
                    // Undoes this write only. If SQLite has already rolled the whole transaction back (a full disk, an
                    // I/O error), this throws and the group fails below.
                    await RunKeptAsync(connection, transaction, "ROLLBACK TO write;");
                    await RunKeptAsync(connection, transaction, "RELEASE write;");
                    write.Fail(exception);
                    continue;
                }

                await RunKeptAsync(connection, transaction, "RELEASE write;");
                landed.Add(write);
            }

            await transaction.CommitAsync(CancellationToken.None);
            foreach (var write in landed)
            {
                write.Succeed();
            }

            return true;
        }
        catch (Exception exception)
        {
            // The connection may be what failed (a full disk, the file gone): the next group opens a new one.
            CloseWriter();

            // Nothing of the group was committed: every caller not yet answered fails with the group's error.
            foreach (var write in group)
            {
                write.Fail(exception);
            }

            return false;
        }
    }

    private async Task RunKeptAsync(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        await using var statement = Statement(connection, transaction, sql);
        await statement.Command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    private void CloseWriter()
    {
        var writer = Interlocked.Exchange(ref _writer, null);
        if (writer is null)
        {
            return;
        }

        _statements.Clear();
        writer.Dispose();
    }

    /// <summary>A caller's write waiting in the queue, and its completion.</summary>
    private abstract class QueuedWrite
    {
        private const int Waiting = 0, Started = 1, Canceled = 2;
        private int _state;

        /// <summary>Claims the write for a group; false when its caller was cancelled first.</summary>
        public bool TryStart() => Interlocked.CompareExchange(ref _state, Started, Waiting) == Waiting;

        public abstract Task RunAsync(SqliteConnection connection, SqliteTransaction transaction);

        public abstract void Succeed();

        public abstract void Fail(Exception exception);

        protected bool TryCancel() => Interlocked.CompareExchange(ref _state, Canceled, Waiting) == Waiting;
    }

    private sealed class QueuedWrite<T> : QueuedWrite
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> _work;
        private readonly CancellationToken _cancellationToken;
        private readonly CancellationTokenRegistration _registration;
        private T _result = default!;

        public QueuedWrite(Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
        {
            _work = work;
            _cancellationToken = cancellationToken;
            _registration = cancellationToken.Register(static state => ((QueuedWrite<T>)state!).Cancel(), this);
        }

        public Task<T> Task => _completion.Task;

        // Its statements still see the caller's token, so a cancel while it runs rolls back to its savepoint.
        public override async Task RunAsync(SqliteConnection connection, SqliteTransaction transaction) =>
            _result = await _work(connection, transaction, _cancellationToken);

        public override void Succeed()
        {
            _registration.Dispose();
            _completion.TrySetResult(_result);
        }

        public override void Fail(Exception exception)
        {
            _registration.Dispose();
            if (exception is OperationCanceledException && _cancellationToken.IsCancellationRequested)
            {
                _completion.TrySetCanceled(_cancellationToken);
            }
            else
            {
                _completion.TrySetException(exception);
            }
        }

        private void Cancel()
        {
            if (TryCancel())
            {
                _completion.TrySetCanceled(_cancellationToken);
            }
        }
    }
}
