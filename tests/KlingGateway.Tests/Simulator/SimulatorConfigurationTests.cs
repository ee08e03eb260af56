using KlingGateway.Simulator;
using Microsoft.Extensions.Configuration;

namespace KlingGateway.Tests.Simulator;

public sealed class SimulatorConfigurationTests
{
    [Fact]
    public void SimulatorSection_BindsEveryKey()
    {
        var options = SimulatorProgram.ReadOptions(Section(new()
        {
            ["Simulator:ApiKey"] = "configured-key",
            ["Simulator:ApiKeyFile"] = "/run/secrets/simulator-key",
            ["Simulator:QueuedSeconds"] = "0.5",
            ["Simulator:GeneratingSeconds"] = "12",
            ["Simulator:PublicBaseUrl"] = "https://sim.example.test",
            ["Simulator:Instant"] = "true",
        }));

        Assert.Equal("configured-key", options.ApiKey);
        Assert.Equal("/run/secrets/simulator-key", options.ApiKeyFile);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.QueuedFor);
        Assert.Equal(TimeSpan.FromSeconds(12), options.GeneratingFor);
        Assert.Equal("https://sim.example.test", options.PublicBaseUrl);
        Assert.True(options.Instant);
    }

    [Fact]
    public void EmptySection_KeepsTheDefaults()
    {
        var options = SimulatorProgram.ReadOptions(Section([]));
        var defaults = new SimulatorOptions();

        Assert.Equal(defaults.ApiKey, options.ApiKey);
        Assert.Null(options.ApiKeyFile);
        Assert.Equal(defaults.QueuedFor, options.QueuedFor);
        Assert.Equal(defaults.GeneratingFor, options.GeneratingFor);
        Assert.Null(options.PublicBaseUrl);
        Assert.False(options.Instant);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-1")]
    public void BadSeconds_FailNamingTheKey(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            SimulatorProgram.ReadOptions(Section(new() { ["Simulator:QueuedSeconds"] = value })));

        Assert.Contains("Simulator:QueuedSeconds", error.Message);
    }

    [Fact]
    public void EmptyApiKey_FailsAtBuild()
    {
        var error = Assert.Throws<InvalidOperationException>(() => SimulatorApp.Build(new SimulatorOptions { ApiKey = " " }));

        Assert.Contains("Simulator:ApiKey", error.Message);
    }

    private static IConfigurationSection Section(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection("Simulator");
}
