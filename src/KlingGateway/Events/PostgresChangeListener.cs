using KlingGateway.Generations;
using KlingGateway.Ledger;
using Microsoft.Extensions.Options;
using Npgsql;

namespace KlingGateway.Events;

/// <summary>
/// On a PostgreSQL ledger, hears every replica's changes as they commit: one connection of its own per replica that
/// <c>LISTEN</c>s on the ledger's channel (<see cref="PostgresGenerationStore.NotifyChannel"/>), where each change's
/// transaction sends a <c>NOTIFY</c> (https://www.postgresql.org/docs/15/sql-listen.html). A notice wakes this replica's
/// readers of the log (<see cref="ChangeFeed"/>), so an event raised on another replica reaches subscribers here in
/// milliseconds. A lost connection is opened again, backing off to 30 s; meanwhile the readers' own once-a-second read
/// keeps events flowing. Does nothing on SQLite, which has one replica.
/// </summary>
public sealed partial class PostgresChangeListener(
    SqlLedgerStore store, IOptions<LedgerOptions> options, ChangeFeed feed, ILogger<PostgresChangeListener> logger) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (store is not PostgresGenerationStore postgres)
        {
            return;
        }

        await Task.Yield();
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // A connection of its own, outside the pool: it lives as long as the replica. TCP keepalives find a
                // connection a firewall dropped silently.
                var builder = new NpgsqlConnectionStringBuilder(options.Value.ConnectionString) { Pooling = false, KeepAlive = 30 };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(stoppingToken);
                connection.Notification += (_, _) => feed.Committed();
                await using (var listen = connection.CreateCommand())
                {
                    // LISTEN takes an identifier, not a parameter: quoted, with its quotes doubled.
                    listen.CommandText = $"LISTEN \"{postgres.NotifyChannel.Replace("\"", "\"\"", StringComparison.Ordinal)}\";";
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                LogListening(logger, postgres.Target);
                // Whatever committed while no one listened is read now.
                feed.Committed();
                backoff = TimeSpan.FromSeconds(1);
                while (true)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException or IOException or TimeoutException)
            {
                // The message only: an exception's data can carry connection details.
                LogLost(logger, postgres.Target, exception.GetType().Name, exception.Message.Length > 300 ? exception.Message[..300] : exception.Message,
                    backoff.TotalSeconds);
            }

            try
            {
                await Task.Delay(backoff, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
        }
    }

    [LoggerMessage(EventId = 9010, Level = LogLevel.Information,
        Message = "Listening for other replicas' changes on the PostgreSQL ledger {LedgerTarget}")]
    private static partial void LogListening(ILogger logger, string ledgerTarget);

    [LoggerMessage(EventId = 9011, Level = LogLevel.Warning,
        Message = "Listening on the PostgreSQL ledger {LedgerTarget} stopped ({ErrorType}: {Error}); listening again in {RetrySeconds} s, events are read every second meanwhile")]
    private static partial void LogLost(ILogger logger, string ledgerTarget, string errorType, string error, double retrySeconds);
}
