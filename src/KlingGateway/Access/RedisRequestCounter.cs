using System.Diagnostics.Metrics;
using KlingGateway.Infrastructure;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace KlingGateway.Access;

/// <summary>Where replicas count requests per minute together. Section <c>Redis</c>; unset, each replica counts alone.</summary>
public sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>
    /// A StackExchange.Redis configuration string (<c>redis:6379,password=...,ssl=true</c>). Never logged. Unset: no
    /// Redis, and each replica counts its own requests.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Put before every key the gateway writes, so several gateways (or tests) can share one Redis.</summary>
    public string KeyPrefix { get; set; } = "kling-gateway:";

    /// <summary>
    /// How long a request waits for Redis' count before it is counted on this replica alone. A Redis on the same
    /// network answers in well under a millisecond.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>After Redis fails or times out, how long requests are counted on each replica alone before Redis is asked again.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Requests per minute counted across replicas in Redis: one Lua script increments the client's counter and starts
/// its window's expiry on the first request, atomically, and returns the count and the time left
/// (https://redis.io/docs/latest/commands/incr/, "Pattern: Rate limiter"). Its own script rather than
/// RedisRateLimiting: the gateway needs the count back for the RateLimit-Remaining header, and a bound of a few
/// milliseconds on a slow or absent Redis, neither of which that package gives.
/// <para>
/// Redis is never allowed to fail a request or hold it up: commands fail at once while disconnected
/// (<see cref="BacklogPolicy.FailFast"/>), a request waits at most <see cref="RedisOptions.Timeout"/>, and after a
/// failure the circuit stays open for <see cref="RedisOptions.BreakDuration"/>, during which requests are counted on
/// each replica alone without asking Redis. Each opening is logged once as a warning, and every request counted
/// without Redis is counted on <c>kling_gateway.rate_limit.redis_unavailable</c>.
/// </para>
/// </summary>
public sealed partial class RedisRequestCounter : IHostedService, IAsyncDisposable
{
    private const string CountScript = """
        local count = redis.call('INCR', KEYS[1])
        local ttl = redis.call('PTTL', KEYS[1])
        if count == 1 or ttl < 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[1])
          ttl = tonumber(ARGV[1])
        end
        return {count, ttl}
        """;

    private readonly RedisOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<RedisRequestCounter> _logger;
    private readonly Counter<long> _unavailable;
    private ConnectionMultiplexer? _connection;
    private long _openUntil;
    private int _open;

    public RedisRequestCounter(IOptions<RedisOptions> options, IMeterFactory meters, TimeProvider time, ILogger<RedisRequestCounter> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        _unavailable = meters.Create(GatewayMetrics.Name).CreateCounter<long>("kling_gateway.rate_limit.redis_unavailable", "{request}",
            "Requests counted on this replica alone because Redis was not connected, failed, timed out, or its circuit was open.");
    }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(_options.ConnectionString);

    /// <summary>
    /// Connects before the server serves, waiting at most the connection's connect timeout (5 s unless the
    /// connection string sets one). An unreachable Redis does not stop the start: the connection keeps retrying in the
    /// background, and requests are counted per replica until it answers.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!IsConfigured)
        {
            return;
        }

        var configuration = ConfigurationOptions.Parse(_options.ConnectionString!);
        configuration.AbortOnConnectFail = false;
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.ClientName ??= "kling-gateway";
        _connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        if (_connection.IsConnected)
        {
            LogConnected(_logger);
        }
        else
        {
            Trip("not_connected");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The client's count from Redis, or null when Redis cannot give it in time (the caller counts locally).</summary>
    public async ValueTask<WindowCount?> TryCountAsync(string client, TimeSpan window, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _openUntil) > _time.GetTimestamp())
        {
            Unavailable("circuit_open");
            return null;
        }

        if (_connection is not { IsConnected: true } connection)
        {
            Trip("not_connected");
            return null;
        }

        Task<RedisResult>? command = null;
        try
        {
            command = connection.GetDatabase().ScriptEvaluateAsync(
                CountScript, [(RedisKey)(_options.KeyPrefix + "rpm:" + client)], [(long)window.TotalMilliseconds]);
            var answer = (RedisResult[])(await command.WaitAsync(_options.Timeout, _time, cancellationToken))!;
            Recovered();
            return new WindowCount((long)answer[0], TimeSpan.FromMilliseconds(Math.Max(0, (long)answer[1])));
        }
        catch (TimeoutException)
        {
            // The command may still complete; its outcome is not needed, and its fault must not go unobserved.
            _ = command!.ContinueWith(static task => _ = task.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            Trip("timeout");
            return null;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Trip("error");
            LogFailure(_logger, exception.GetType().Name);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _connection, null) is { } connection)
        {
            await connection.DisposeAsync();
        }
    }

    private void Trip(string reason)
    {
        Unavailable(reason);
        Volatile.Write(ref _openUntil, _time.GetTimestamp() + (long)(_options.BreakDuration.TotalSeconds * _time.TimestampFrequency));
        if (Interlocked.Exchange(ref _open, 1) == 0)
        {
            LogUnavailable(_logger, reason, _options.BreakDuration.TotalSeconds);
        }
    }

    private void Recovered()
    {
        if (Interlocked.Exchange(ref _open, 0) == 1)
        {
            LogRecovered(_logger);
        }
    }

    private void Unavailable(string reason) => _unavailable.Add(1, new KeyValuePair<string, object?>("reason", reason));

    [LoggerMessage(EventId = 6040, Level = LogLevel.Information, Message = "Redis is connected: requests per minute are counted across replicas")]
    private static partial void LogConnected(ILogger logger);

    [LoggerMessage(EventId = 6041, Level = LogLevel.Warning,
        Message = "Redis did not count a request ({Reason}): requests per minute are counted on this replica alone, and Redis is asked again in {BreakSeconds} s")]
    private static partial void LogUnavailable(ILogger logger, string reason, double breakSeconds);

    [LoggerMessage(EventId = 6042, Level = LogLevel.Information, Message = "Redis answers again: requests per minute are counted across replicas")]
    private static partial void LogRecovered(ILogger logger);

    [LoggerMessage(EventId = 6043, Level = LogLevel.Debug, Message = "Redis failed to count a request: {Error}")]
    private static partial void LogFailure(ILogger logger, string error);
}

/// <summary>Refuses Redis settings that could not work, naming them (never repeating the connection string).</summary>
public sealed class RedisOptionsValidator : IValidateOptions<RedisOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisOptions options)
    {
        var failures = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            try
            {
                ConfigurationOptions.Parse(options.ConnectionString);
            }
            catch (ArgumentException)
            {
                failures.Add("Redis:ConnectionString (Redis__ConnectionString) is not a valid StackExchange.Redis configuration, e.g. redis:6379,password=....");
            }
        }

        if (options.Timeout < TimeSpan.FromMilliseconds(1) || options.Timeout > TimeSpan.FromSeconds(1))
        {
            failures.Add("Redis:Timeout (Redis__Timeout) must be between 00:00:00.001 and 00:00:01.");
        }

        if (options.BreakDuration < TimeSpan.Zero || options.BreakDuration > TimeSpan.FromMinutes(10))
        {
            failures.Add("Redis:BreakDuration (Redis__BreakDuration) must be between 00:00:00 and 00:10:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
