using Microsoft.Data.Sqlite;

namespace KlingGateway.Ledger;

/// <summary>
/// When the SQLite ledger checkpoints its WAL: in the background after every <paramref name="EveryCommits"/> commits,
/// and on the writer (SQLite's own checkpoint) once the WAL holds <paramref name="WriterAtPages"/> pages.
/// </summary>
internal sealed record SqliteCheckpointPolicy(int EveryCommits, int WriterAtPages)
{
    // Measured at 1,000 creates a second (bench/FINDINGS.md): the writer's at 16,384 pages (64 MiB of 4 KiB pages)
    // took the p99 from about 8 ms to 4-5 ms; at 4,096 pages it was 6-7 ms. The background one every 20 commits
    // (a tenth of a second of creates at that rate) leaves the writer's little to copy.
    public static readonly SqliteCheckpointPolicy Default = new(EveryCommits: 20, WriterAtPages: 16_384);

    /// <summary>The size a WAL that grew past twice its bound is cut back to when it starts over.</summary>
    public long WalSizeLimitBytes => 2L * WriterAtPages * 4096;
}

/// <summary>
/// The background checkpoints. SQLite's automatic checkpoint runs in the commit that crosses its bound (1,000 WAL pages
/// by default), so one group (and every write queued behind it) waited while the WAL was copied into the file: most of
/// the create's p99 at 1,000 a second (bench/FINDINGS.md). Now, after every few commits, a PASSIVE checkpoint copies on
/// a connection of its own while writes go on. SQLite's checkpoint on the writer stays, past a larger bound, and finds
/// nearly everything copied already. It is still needed: SQLite starts the WAL over only after a checkpoint that no
/// commit overtook, which under steady writes only the writer's own is; and it bounds the WAL when the background one
/// falls behind.
/// </summary>
internal sealed class SqliteCheckpoints(
    SqliteCheckpointPolicy policy, Func<CancellationToken, Task<SqliteConnection>> openConnection, string ledgerPath, ILogger logger)
{
    // Counted by the one running group writer only.
    private int _commitsSinceCheckpoint;

    // 1 while a background checkpoint runs, and for good once stopped.
    private int _checkpointing;
    private int _stopped;

    public SqliteCheckpointPolicy Policy => policy;

    /// <summary>Called by the group writer after each commit: every few commits, starts a checkpoint unless one runs.</summary>
    public void Committed()
    {
        if (++_commitsSinceCheckpoint >= policy.EveryCommits && Interlocked.CompareExchange(ref _checkpointing, 1, 0) == 0)
        {
            _commitsSinceCheckpoint = 0;
            _ = Task.Run(CheckpointAsync, CancellationToken.None);
        }
    }

    /// <summary>
    /// Waits out a background checkpoint and lets no new one start, so none opens a connection after the pool is
    /// cleared. Once only: the flag stays taken.
    /// </summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 0)
        {
            SpinWait.SpinUntil(() => Interlocked.CompareExchange(ref _checkpointing, 1, 0) == 0);
        }
    }

    /// <summary>Copies what the WAL holds into the file on its own connection, without waiting for the writer or readers.</summary>
    private async Task CheckpointAsync()
    {
        try
        {
            await using var connection = await openConnection(CancellationToken.None);
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            await command.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (SqliteException exception)
        {
            // Nothing is lost: the pages stay in the WAL, and the next checkpoint copies them.
            LedgerLog.CheckpointFailed(logger, ledgerPath, exception);
        }
        finally
        {
            Volatile.Write(ref _checkpointing, 0);
        }
    }
}
