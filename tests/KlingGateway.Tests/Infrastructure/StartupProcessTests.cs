using System.Net;
using System.Net.Sockets;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>
/// A start that cannot work, as an operator sees it from the real process: exit code 1 and one line on stderr naming
/// the setting to fix (not an unhandled exception's stack trace and the runtime's abort, exit 134).
/// </summary>
public sealed class StartupProcessTests : IDisposable
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "kling-gateway-tests", $"startup-{Guid.NewGuid():N}");

    public StartupProcessTests() => Directory.CreateDirectory(_work);

    public void Dispose() => Directory.Delete(_work, recursive: true);

    public static TheoryData<string, string, string, string> BadSettings => new()
    {
        { "no key in Production", "", "", "AimlApi:ApiKey" },
        { "a setting that is not a number", "Gateway__MaxRequestBodyBytes", "lots", "Gateway:MaxRequestBodyBytes" },
        { "a setting out of range", "Gateway__ShutdownTimeout", "00:00:00", "Gateway:ShutdownTimeout" },
        { "a body budget below two bodies", "Gateway__MaxBufferedBodyBytes", "1048576", "Gateway:MaxBufferedBodyBytes" },
        { "a settings directory that does not exist", "Gateway__SettingsDirectory", "/no/such/settings", "Gateway:SettingsDirectory" },
        { "a malformed upstream URL", "AimlApi__BaseUrl", "not a url", "AimlApi:BaseUrl" },
        { "an unknown ledger provider", "Ledger__Provider", "oracle", "Ledger:Provider" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task BadSetting_ExitsOneWithOneLineNamingIt(string what, string key, string value, string named)
    {
        var environment = new Dictionary<string, string?> { ["Ledger__Path"] = Path.Combine(_work, "ledger.db") };
        if (what != "no key in Production")
        {
            environment["AimlApi__ApiKey"] = "startup-test-key";
        }

        if (key.Length > 0)
        {
            environment[key] = value;
        }

        await using var gateway = GatewayProcess.Start(environment);

        var exit = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exit);
        var line = Assert.Single(gateway.Stderr, l => l.Length > 0);
        Assert.StartsWith("kling-gateway: cannot start: ", line, StringComparison.Ordinal);
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.DoesNotContain(gateway.Stdout.Concat(gateway.Stderr), l => l.Contains("Unhandled exception", StringComparison.Ordinal) || l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PortInUse_ExitsOneWithOneLineNamingTheAddress()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var address = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";

        await using var gateway = GatewayProcess.Start(new Dictionary<string, string?>
        {
            ["AimlApi__ApiKey"] = "startup-test-key",
            ["Ledger__Path"] = Path.Combine(_work, "ledger.db"),
        }, address);

        var exit = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exit);
        var line = Assert.Single(gateway.Stderr, l => l.Length > 0);
        Assert.StartsWith("kling-gateway: cannot start: ", line, StringComparison.Ordinal);
        Assert.Contains(address, line, StringComparison.Ordinal);
        Assert.Contains("address already in use", line, StringComparison.Ordinal);
        Assert.Contains("--urls", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AGoodStart_ListensAndStopsWithExitZero()
    {
        await using var gateway = GatewayProcess.Start(new Dictionary<string, string?>
        {
            ["AimlApi__ApiKey"] = "startup-test-key",
            ["Ledger__Path"] = Path.Combine(_work, "ledger.db"),
        });

        var address = await gateway.Listening.WaitAsync(TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = address };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.DoesNotContain(gateway.Stderr, l => l.Length > 0);
    }
}
