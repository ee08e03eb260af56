namespace KlingGateway.Tests.Lifecycle;

/// <summary>A lifecycle, storage or link setting that cannot work stops the host at start, naming the setting.</summary>
public sealed class LifecycleSettingsTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Theory]
    [InlineData("Generations:Deadline", "00:00:00.010", "Generations:Deadline")]
    [InlineData("Generations:MaxConcurrentRefreshes", "0", "Generations:MaxConcurrentRefreshes")]
    [InlineData("Generations:LateCheckInterval", "00:00:00", "Generations:LateCheckInterval")]
    [InlineData("Storage:MaxVideoBytes", "10", "Storage:MaxVideoBytes")]
    [InlineData("Storage:DownloadAttempts", "0", "Storage:DownloadAttempts")]
    [InlineData("Storage:Retention", "00:00:00", "Storage:Retention")]
    [InlineData("Videos:LinkSigningSecret", "too-short", "Videos:LinkSigningSecret")]
    [InlineData("Videos:LinkLifetime", "30.00:00:00", "Videos:LinkLifetime")]
    [InlineData("Videos:PublicBaseUrl", "ftp://kling.internal", "Videos:PublicBaseUrl")]
    [InlineData("Videos:CompatibleVideoUrl", "cdn", "Videos:CompatibleVideoUrl")]
    public void AnUnworkableSetting_StopsTheStart_NamingIt(string key, string value, string named)
    {
        using var host = gateway.WithWebHostBuilder(b => b.UseSetting(key, value));

        var failure = Record.Exception(() => host.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains(named, failure.ToString(), StringComparison.Ordinal);
        if (key == "Videos:LinkSigningSecret")
        {
            Assert.DoesNotContain(value, failure.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AStorageDirectoryThatCannotBeWritten_StopsTheStart_NamingStoragePath()
    {
        // A path under a regular file can never be a directory, whoever runs the test (root included).
        var file = Path.Combine(gateway.WorkDirectory, "not-a-directory");
        File.WriteAllText(file, "x");
        using var host = gateway.WithWebHostBuilder(b => b.UseSetting("Storage:Path", Path.Combine(file, "videos")));

        var failure = Record.Exception(() => host.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains("Storage:Path", failure.ToString(), StringComparison.Ordinal);
    }
}
