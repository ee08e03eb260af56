using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using KlingGateway.Tests.Generations;
using StackExchange.Redis;

namespace KlingGateway.Tests.Access;

/// <summary>
/// The shared Redis server the tests use: its address in <c>KLING_TEST_REDIS</c> (.ci/run installs, starts and exports
/// it). Tests must not assume it is empty: each gives the gateway a key prefix of its own.
/// </summary>
internal static class TestRedis
{
    public const string Variable = "KLING_TEST_REDIS";

    private static readonly Lazy<string?> Unavailable = new(Probe);

    public static string ConnectionString => Environment.GetEnvironmentVariable(Variable)!;

    /// <summary>Why the shared Redis cannot be used here, or <see langword="null"/> when it can.</summary>
    public static string? WhyUnavailable => Unavailable.Value;

    /// <summary>A key prefix no other test uses.</summary>
    public static string NewPrefix() => $"kling-test:{Guid.NewGuid():N}:";

    private static string? Probe()
    {
        var address = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(address))
        {
            return $"{Variable} is not set: no Redis server to test against (.ci/run installs and starts one).";
        }

        try
        {
            using var connection = ConnectionMultiplexer.Connect(address + ",connectTimeout=3000");
            connection.GetDatabase().Ping();
            return null;
        }
        catch (RedisException exception)
        {
            return $"The Redis server in {Variable} does not answer: {exception.Message}";
        }
    }
}

/// <summary>A fact that needs the shared Redis (and PostgreSQL when asked): reported as skipped, with the reason, without them.</summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute(bool needsPostgres = false)
    {
        if (TestRedis.WhyUnavailable is { } reason)
        {
            Skip = reason;
        }
        else if (needsPostgres && PostgresDatabase.WhyUnavailable is { } postgres)
        {
            Skip = postgres;
        }
    }
}

/// <summary>A fact that runs a Redis server of its own: reported as skipped, with the reason, when redis-server is not installed.</summary>
public sealed class RedisServerFactAttribute : FactAttribute
{
    public RedisServerFactAttribute()
    {
        if (OwnRedisServer.Executable is null)
        {
            Skip = "redis-server is not installed (apt-get install redis-server); .ci/run installs it.";
        }
    }
}

/// <summary>
/// A redis-server process of the test's own on an ephemeral loopback port, which the test can pause (SIGSTOP: the
/// connection stays open and nothing answers), resume, kill (SIGKILL) and start again on the same port.
/// </summary>
internal sealed class OwnRedisServer : IAsyncDisposable
{
    private const string SigStop = "-STOP";
    private const string SigCont = "-CONT";

    private Process? _process;

    private OwnRedisServer(int port) => Port = port;

    public static string? Executable { get; } = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);

    public int Port { get; }

    public string Address => $"127.0.0.1:{Port}";

    public static async Task<OwnRedisServer> StartAsync()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        var server = new OwnRedisServer(port);
        await server.RestartAsync();
        return server;
    }

    /// <summary>Starts the server (again) on its port, with nothing saved to disk, and waits until it answers.</summary>
    public async Task RestartAsync()
    {
        _process = Process.Start(new ProcessStartInfo(Executable!)
        {
            ArgumentList = { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync(Address + ",connectTimeout=1000");
                await connection.GetDatabase().PingAsync();
                return;
            }
            catch (RedisException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The count the gateway keeps for a client under a key prefix, or null when there is none.</summary>
    public async Task<long?> CountAsync(string prefix, string client)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(Address);
        var value = await connection.GetDatabase().StringGetAsync(prefix + "rpm:" + client);
        return value.IsNull ? null : (long)value;
    }

    public void Pause() => Signal(SigStop);

    public void Resume() => Signal(SigCont);

    public async Task KillAsync()
    {
        _process!.Kill();
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } process)
        {
            Signal(SigCont);
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [signal, _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill {signal} {_process.Id} exited {kill.ExitCode}");
        }
    }
}
