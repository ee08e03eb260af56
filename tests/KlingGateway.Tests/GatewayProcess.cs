using System.Diagnostics;
using System.Text.RegularExpressions;

namespace KlingGateway.Tests;

/// <summary>
/// The gateway as its own process (<c>dotnet KlingGateway.dll</c> from the test output, as the container runs the
/// published app), with the environment a test gives it and its output captured. For what only a real process shows:
/// its exit code and stderr when it cannot start, and its behaviour under the runtime's heap limit.
/// </summary>
public sealed partial class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private GatewayProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Received(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Received(_stderr, e.Data);
    }

    /// <summary>The address it listens on, once it said so.</summary>
    public Task<Uri> Listening => _listening.Task;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public IReadOnlyList<string> Stdout
    {
        get
        {
            lock (_stdout)
            {
                return [.. _stdout];
            }
        }
    }

    public IReadOnlyList<string> Stderr
    {
        get
        {
            lock (_stderr)
            {
                return [.. _stderr];
            }
        }
    }

    /// <summary>
    /// Starts the gateway in Production listening on <paramref name="urls"/> (a free loopback port by default), with
    /// only the given settings (environment variables, <c>__</c> for <c>:</c>) beyond the machine's own environment.
    /// </summary>
    public static GatewayProcess Start(IDictionary<string, string?> environment, string urls = "http://127.0.0.1:0")
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "KlingGateway.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(urls);
        // Nothing of the test runner's own hosting settings leaks in: only what the test gives.
        foreach (var inherited in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)
                     || k is "DOTNET_ENVIRONMENT" || k.StartsWith("DOTNET_GC", StringComparison.OrdinalIgnoreCase)
                     || k.Contains("__", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(inherited);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var gateway = new GatewayProcess(new Process { StartInfo = start, EnableRaisingEvents = true });
        gateway._process.Exited += (_, _) => gateway._listening.TrySetException(new InvalidOperationException(
            $"The gateway exited ({gateway._process.ExitCode}) before listening: {string.Join(Environment.NewLine, gateway.Stderr.Concat(gateway.Stdout).TakeLast(20))}"));
        gateway._process.Start();
        gateway._process.BeginOutputReadLine();
        gateway._process.BeginErrorReadLine();
        return gateway;
    }

    /// <summary>Waits for the process to end (bounded) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Received(List<string> lines, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (lines)
        {
            lines.Add(line);
        }

        if (ListeningOn().Match(line) is { Success: true } match)
        {
            _listening.TrySetResult(new Uri(match.Groups["url"].Value));
        }
    }

    // Plain text, or a JSON event whose rendered message quotes the address.
    [GeneratedRegex(@"Now listening on: (?:\\"")?(?<url>http://[0-9.:]+)")]
    private static partial Regex ListeningOn();
}
