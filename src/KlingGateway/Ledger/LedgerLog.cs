namespace KlingGateway.Ledger;

/// <summary>
/// The ledger's log events, all in one place. SQLite's and PostgreSQL's keep their own ids and message shapes
/// (<c>3001</c> to <c>3005</c>, <c>3011</c> to <c>3014</c>), which operators' alerts match on.
/// </summary>
internal static partial class LedgerLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Information,
        Message = "Ledger migrated {LedgerPath} to schema version {SchemaVersion}")]
    public static partial void SqliteMigrated(ILogger logger, string ledgerPath, int schemaVersion);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information,
        Message = "Ledger ready at {LedgerPath}, schema version {SchemaVersion}")]
    public static partial void SqliteReady(ILogger logger, string ledgerPath, int schemaVersion);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} could not switch to WAL; journal mode is {JournalMode}")]
    public static partial void JournalModeNotWal(ILogger logger, string ledgerPath, string? journalMode);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} is not reachable")]
    public static partial void SqliteUnreachable(ILogger logger, string ledgerPath, Exception exception);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} could not checkpoint its WAL; it is kept and tried again")]
    public static partial void CheckpointFailed(ILogger logger, string ledgerPath, Exception exception);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information,
        Message = "Ledger migrated PostgreSQL {LedgerTarget} to schema version {SchemaVersion}")]
    public static partial void PostgresMigrated(ILogger logger, string ledgerTarget, int schemaVersion);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information,
        Message = "Ledger ready in PostgreSQL {LedgerTarget}, schema version {SchemaVersion}")]
    public static partial void PostgresReady(ILogger logger, string ledgerTarget, int schemaVersion);

    // The message only: an exception's data can carry connection details.
    [LoggerMessage(EventId = 3014, Level = LogLevel.Warning,
        Message = "Ledger in PostgreSQL {LedgerTarget} is not reachable: {Reason}")]
    public static partial void PostgresUnreachable(ILogger logger, string ledgerTarget, string reason);
}
