using KlingGateway.Generations;
using KlingGateway.Ledger;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KlingGateway.Tests.Generations;

public sealed class LedgerOptionsTests : IDisposable
{
    private readonly string _contentRoot =
        Path.Combine(Path.GetTempPath(), "kling-ledger-tests", Guid.NewGuid().ToString("N"));

    public LedgerOptionsTests() => Directory.CreateDirectory(_contentRoot);

    public void Dispose() => Directory.Delete(_contentRoot, recursive: true);

    [Fact]
    public void RelativePath_ResolvesAgainstTheContentRoot()
    {
        var options = new LedgerOptions { Path = "data/ledger.db" };

        Assert.Equal(Path.Combine(_contentRoot, "data", "ledger.db"), options.ResolveFullPath(_contentRoot));
    }

    [Fact]
    public void AbsolutePath_IsKept()
    {
        var absolute = Path.Combine(Path.GetTempPath(), "elsewhere", "ledger.db");
        var options = new LedgerOptions { Path = absolute };

        Assert.Equal(absolute, options.ResolveFullPath(_contentRoot));
    }

    [Fact]
    public void NoLedgerSection_UsesTheDefaultPath()
    {
        Assert.Equal("data/kling-gateway.db", new LedgerOptions().Path);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(":memory:")]
    [InlineData("file:ledger?mode=memory")]
    public async Task UnusablePath_HostRefusesToStartAndSaysWhatToSet(string path)
    {
        using var host = BuildHost(path);

        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Ledger:Path", exception.Message, StringComparison.Ordinal);
        Assert.Contains("Ledger__Path", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddLedger_RegistersOneSingletonStoreOnTheConfiguredFile()
    {
        using var host = BuildHost("ledger-dir/gateway.db");
        await host.StartAsync();

        var store = host.Services.GetRequiredService<IGenerationStore>();
        await store.InitializeAsync(CancellationToken.None);

        Assert.Same(store, host.Services.GetRequiredService<IGenerationStore>());
        Assert.Same(store, host.Services.GetRequiredService<SqliteGenerationStore>());
        Assert.True(File.Exists(Path.Combine(_contentRoot, "ledger-dir", "gateway.db")));
        Assert.True(await store.IsReachableAsync(CancellationToken.None));
        await host.StopAsync();
    }

    [Fact]
    public void AddLedgerTwice_StillOneStoreAndOneValidator()
    {
        var services = new ServiceCollection();
        var configuration = new ConfigurationBuilder().Build();

        services.AddLedger(configuration).AddLedger(configuration);

        Assert.Single(services, d => d.ServiceType == typeof(IGenerationStore));
        Assert.Single(services, d => d.ServiceType == typeof(SqliteGenerationStore));
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<LedgerOptions>));
    }

    private IHost BuildHost(string ledgerPath)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = _contentRoot,
            EnvironmentName = Environments.Production,
            DisableDefaults = true,
        });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Ledger:Path"] = ledgerPath });
        builder.Services.AddLedger(builder.Configuration);
        return builder.Build();
    }
}
