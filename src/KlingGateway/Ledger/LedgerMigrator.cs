namespace KlingGateway.Ledger;

/// <summary>
/// Creates or upgrades the ledger's schema at start, the same way on every database: in one transaction under the
/// database's migration lock, from the version the ledger is at, one step per version, each recording its version in
/// the same transaction. A ledger newer than this build is refused rather than touched.
/// </summary>
internal static class LedgerMigrator
{
    public static async Task MigrateAsync(LedgerDatabase database, ILogger logger, CancellationToken cancellationToken)
    {
        var migrations = database.Migrations;
        await using var connection = await database.OpenForMigrationAsync(cancellationToken);
        await using var transaction = await database.BeginMigrationAsync(connection, cancellationToken);
        var version = await database.ReadSchemaVersionAsync(connection, transaction, cancellationToken);
        if (version > migrations.Count)
        {
            throw new InvalidOperationException(database.TooNew(version, migrations.Count));
        }

        for (var step = version; step < migrations.Count; step++)
        {
            await using var migrate = connection.CreateCommand();
            migrate.Transaction = transaction;
            migrate.CommandText = migrations[step];
            database.AppendSchemaVersion(migrate, step + 1);
            await migrate.ExecuteNonQueryAsync(cancellationToken);
            database.LogMigrated(logger, step + 1);
        }

        await database.AfterMigrationAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        database.LogReady(logger, migrations.Count);
    }
}

/// <summary>The readiness probe: the ledger answers a read of its main table now.</summary>
internal static class LedgerReadiness
{
    public static async Task<bool> IsReachableAsync(LedgerDatabase database, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await database.OpenProbeAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            // Reads the table, not just the file or server: a missing or unmigrated ledger is not ready.
            command.CommandText = "SELECT 1 FROM generations LIMIT 1;";
            await command.ExecuteScalarAsync(cancellationToken);
            return true;
        }
        catch (Exception exception) when (database.IsUnreachable(exception))
        {
            database.LogUnreachable(logger, exception);
            return false;
        }
    }
}
