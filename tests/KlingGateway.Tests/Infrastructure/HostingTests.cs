using System.Net;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>
/// What running in a container needs: settings from a directory of files (as Kubernetes mounts secrets), a
/// shutdown timeout from a setting, and the <c>--probe</c> health check the image's HEALTHCHECK runs.
/// </summary>
public sealed class HostingTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Fact]
    public async Task SettingsDirectoryLaidOutAsKubernetesMountsIt_SuppliesTheKeyOverOtherSources()
    {
        // Kubernetes writes each key into a timestamped folder, points ..data at it, and links each name through ..data.
        var mount = Path.Combine(gateway.WorkDirectory, "settings-k8s");
        var version = Path.Combine(mount, "..2026_11_22_10_00_00.123456789");
        Directory.CreateDirectory(version);
        File.CreateSymbolicLink(Path.Combine(mount, "..data"), Path.GetFileName(version));
        foreach (var (name, value) in new[]
        {
            ("AimlApi__ApiKey", GatewayFactory.UpstreamKey), ("Generations__MaxPageSize", "7"), ("Generations__DefaultPageSize", "5"),
        })
        {
            await File.WriteAllTextAsync(Path.Combine(version, name), value + "\n");
            File.CreateSymbolicLink(Path.Combine(mount, name), Path.Combine("..data", name));
        }

        await using var host = gateway.WithWebHostBuilder(b => b
            .UseSetting(HostingExtensions.SettingsDirectoryKey, mount)
            .UseSetting("AimlApi:ApiKey", "a-stale-key-the-files-replace"));
        var client = host.CreateClient();

        // The simulator accepts only the real key, so a created generation proves the file's key was sent.
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Pro));
        Assert.Equal("queued", created.GetProperty("status").GetString());
        var tooLarge = await client.GetAsync("/v1/generations?limit=8");
        Assert.Equal(HttpStatusCode.BadRequest, tooLarge.StatusCode);
        Assert.Contains("between 1 and 7", await tooLarge.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void SettingsDirectoryThatDoesNotExist_RefusesToStartAndNamesTheSetting()
    {
        var missing = Path.Combine(gateway.WorkDirectory, "no-such-settings");
        using var host = gateway.WithWebHostBuilder(b => b.UseSetting(HostingExtensions.SettingsDirectoryKey, missing));

        var failure = Record.Exception(() => host.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains("Gateway:SettingsDirectory", failure.ToString(), StringComparison.Ordinal);
        Assert.Contains(missing, failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ShutdownTimeout_ComesFromTheSetting()
    {
        using var host = gateway.WithWebHostBuilder(b => b.UseSetting("Gateway:ShutdownTimeout", "00:00:42"));
        host.CreateClient();

        Assert.Equal(TimeSpan.FromSeconds(42), host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("01:00:00")]
    public void ShutdownTimeoutOutOfRange_RefusesToStartAndNamesTheSetting(string timeout)
    {
        using var host = gateway.WithWebHostBuilder(b => b.UseSetting("Gateway:ShutdownTimeout", timeout));

        var failure = Record.Exception(() => host.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains("Gateway:ShutdownTimeout", failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_ExitsZeroWhenReadyAndOneWhenNotReadyOrNotListening()
    {
        var ledgerDirectory = Path.Combine(gateway.WorkDirectory, "probe-ledger");
        await using var host = gateway.WithWebHostBuilder(b => b.UseSetting("Ledger:Path", Path.Combine(ledgerDirectory, "ledger.db")));
        host.UseKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        host.StartServer();
        var address = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var output = new StringWriter();
        Assert.Equal(0, await Probe.RunAsync([Probe.Argument, address], output));
        Assert.Contains("answered 200", output.ToString(), StringComparison.Ordinal);

        Directory.Delete(ledgerDirectory, recursive: true);
        Assert.Equal(1, await Probe.RunAsync([Probe.Argument, address], output));
        Assert.Contains("answered 503", output.ToString(), StringComparison.Ordinal);

        await host.DisposeAsync();
        Assert.Equal(1, await Probe.RunAsync([Probe.Argument, address], output));
        Assert.Equal(1, await Probe.RunAsync([Probe.Argument, "not a url"], output));
    }

    [Theory]
    [InlineData(null, "http://127.0.0.1:8080")]
    [InlineData("", "http://127.0.0.1:8080")]
    [InlineData("9000", "http://127.0.0.1:9000")]
    [InlineData("8081;8082", "http://127.0.0.1:8081")]
    public void ProbeWithoutUrl_AsksTheContainersOwnHttpPort(string? httpPorts, string expected) =>
        Assert.Equal(expected, Probe.DefaultBaseUrl(httpPorts));
}
