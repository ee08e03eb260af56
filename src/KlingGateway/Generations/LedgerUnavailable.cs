using Microsoft.Data.Sqlite;
using Npgsql;

namespace KlingGateway.Generations;

/// <summary>
/// Tells a ledger that cannot serve right now (PostgreSQL unreachable, out of connections or starting up; a SQLite
/// file locked past its busy timeout, full or unreadable) from a fault in the gateway. The first is answered 503 with
/// Retry-After, so a caller retries later instead of being told the gateway broke; nothing was written for it.
/// </summary>
public static class LedgerUnavailable
{
    // https://www.sqlite.org/rescode.html: the primary result codes of a database that is busy, locked, unreadable,
    // full or cannot be opened.
    private const int SqliteBusy = 5, SqliteLocked = 6, SqliteIoError = 10, SqliteFull = 13, SqliteCantOpen = 14;

    /// <summary>The seconds a caller is asked to wait before retrying.</summary>
    public const int RetryAfterSeconds = 5;

    /// <summary>Whether <paramref name="exception"/>, or one it wraps, says the ledger cannot serve now.</summary>
    public static bool Is(Exception? exception) => exception switch
    {
        null => false,
        // https://www.postgresql.org/docs/current/errcodes-appendix.html: class 08 (connection), 53 (insufficient
        // resources, e.g. 53300 too_many_connections), 57P01-57P03 (shutting down, cannot connect now); Npgsql marks
        // connection faults and an exhausted pool as transient.
        PostgresException postgres => postgres.SqlState.StartsWith("08", StringComparison.Ordinal)
            || postgres.SqlState.StartsWith("53", StringComparison.Ordinal)
            || postgres.SqlState is "57P01" or "57P02" or "57P03"
            || postgres.IsTransient,
        NpgsqlException npgsql => npgsql.IsTransient,
        SqliteException sqlite => (sqlite.SqliteErrorCode & 0xFF) is SqliteBusy or SqliteLocked or SqliteIoError or SqliteFull or SqliteCantOpen,
        AggregateException aggregate => aggregate.InnerExceptions.Any(Is),
        _ => Is(exception.InnerException),
    };
}
