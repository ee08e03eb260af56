namespace KlingGateway.Generations;

/// <summary>
/// The loop every background worker of the ledger runs: one pass as soon as the host has started (the ledger is
/// migrated by then), then one every <see cref="Interval"/>, until the host stops. A subclass says what a pass does
/// (<see cref="RunPassAsync"/>); the loop owns the cadence, the logging of a failed pass and the shutdown.
/// </summary>
/// <remarks>
/// <para>
/// <b>Passes never overlap</b> in one process: the next waits for the last (a slow pass delays, never doubles, the next
/// tick). Across replicas they do overlap, so a pass must only change a row with a conditional update from the state it
/// found it in (<see cref="ILedgerSweeps"/>); then two replicas sweeping one ledger settle each row once.
/// </para>
/// <para>
/// <b>A failed pass</b> (the ledger or the upstream briefly unreachable) is logged and the loop goes on; the next pass
/// finds the same work, as nothing is marked done until it is. A pass never throws past the loop.
/// </para>
/// <para>
/// <b>Shutdown:</b> on SIGTERM the host cancels the token a pass is given and waits for the pass to return, within
/// <c>Gateway:ShutdownTimeout</c>. A pass stops between rows; each row's update is one statement, so a pass cut off
/// (even by SIGKILL) leaves every row either settled or as it was, and the next start picks up the rest.
/// </para>
/// </remarks>
public abstract partial class PeriodicWorker(TimeProvider time, ILogger logger) : BackgroundService
{
    /// <summary>The clock every pass reads (a fake one in tests).</summary>
    protected TimeProvider Time { get; } = time;

    /// <summary>The worker's logger.</summary>
    protected ILogger Logger { get; } = logger;

    /// <summary>The worker's name in its log events.</summary>
    protected abstract string Name { get; }

    /// <summary>The time from the start of one pass to the start of the next (a longer pass pushes the next back).</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>One pass. Stop soon after <paramref name="stoppingToken"/> is cancelled; leave unfinished work for the next pass.</summary>
    protected abstract Task RunPassAsync(CancellationToken stoppingToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Off the start path: the host goes on starting (and serving) while the first pass runs.
        await Task.Yield();
        using var timer = new PeriodicTimer(Interval, Time);
        try
        {
            do
            {
                try
                {
                    await RunPassAsync(stoppingToken);
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // The type and message only, bounded: an exception's data can carry connection details.
                    var message = exception.Message.Length > 500 ? exception.Message[..500] + "…" : exception.Message;
                    LogPassFailed(Logger, Name, exception.GetType().Name, message);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping: the pass in flight has returned or given up between rows.
        }
    }

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning,
        Message = "Background worker {Worker}: a pass failed ({ErrorType}: {Error}); the next pass retries its work")]
    private static partial void LogPassFailed(ILogger logger, string worker, string errorType, string error);
}
