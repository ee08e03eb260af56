using KlingGateway.Events;
using KlingGateway.Generations;
using KlingGateway.Ledger;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace KlingGateway.Tests.Generations;

/// <summary>A ledger file in its own temporary directory, removed afterwards, and stores opened on it.</summary>
internal sealed class LedgerFixture : IDisposable
{
    private readonly List<SqliteGenerationStore> _stores = [];

    public LedgerFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "kling-ledger-tests", Guid.NewGuid().ToString("N"));
        FilePath = Path.Combine(Directory, "nested", "ledger.db");
    }

    public string Directory { get; }

    public string FilePath { get; }

    /// <summary>A new store instance on the file, not yet initialized; checkpoints as in production unless given.</summary>
    public SqliteGenerationStore Open(SqliteCheckpointPolicy? checkpoints = null, ChangeFeed? feed = null)
    {
        var store = new SqliteGenerationStore(FilePath, NullLogger<SqliteGenerationStore>.Instance, checkpoints, feed);
        _stores.Add(store);
        return store;
    }

    public async Task<SqliteGenerationStore> OpenInitializedAsync(SqliteCheckpointPolicy? checkpoints = null, ChangeFeed? feed = null)
    {
        var store = Open(checkpoints, feed);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    /// <summary>Runs one scalar query on the file directly, bypassing the store.</summary>
    public async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={FilePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}

internal static class SampleGenerations
{
    public const string V1Standard = "kling-video/v1/standard/image-to-video";
    public const string V21Pro = "kling-video/v2.1/pro/image-to-video";

    public static readonly DateTimeOffset T0 = new(2026, 11, 22, 9, 0, 0, TimeSpan.Zero);

    /// <summary>A freshly created generation with only what a create always has.</summary>
    public static Generation Minimal(
        DateTimeOffset createdAt, string model = V1Standard, GenerationStatus status = GenerationStatus.Queued) => new()
        {
            Id = GenerationId.New(),
            Model = model,
            RouteFamily = "universal",
            Status = status,
            RequestSummary = """{"model":"kling-video/v1/standard/image-to-video","prompt":"a cat"}""",
            CreatedAt = createdAt,
            UpdatedAt = createdAt,
        };

    /// <summary>A generation with every field set, with tick-precise times in a non-UTC offset.</summary>
    public static Generation Full() => new()
    {
        Id = GenerationId.New(),
        UpstreamId = "uuid:kling-video/v2/master/image-to-video",
        Model = "klingai/v2-master-image-to-video",
        RouteFamily = "legacy",
        Status = GenerationStatus.Succeeded,
        UpstreamStatus = "completed",
        Video = new GenerationVideo("https://cdn.aimlapi.com/x/output.mp4?ksSecret=a&ksTime=b", "video/mp4", "output.mp4", 5_150_376),
        Error = new GenerationError(GenerationErrorCodes.GenerationFailed, "Could not detect face in the image"),
        Usage = new GenerationUsage(120_000.5, 42),
        Warnings =
        [
            new GenerationWarning("cfg_scale", "Kling v2 models ignore this field."),
            new GenerationWarning("dynamic_masks[0].mask", "Ignored \"here\" too; ünïcode ok."),
        ],
        ClientRequestId = "client-1.2:3_x",
        UpstreamRequestId = "gen.upstream-request-id",
        ExternalTaskId = "ext-task-7",
        RequestSummary = """{"model":"klingai/v2-master-image-to-video","image_url":{"sha256":"ab12"},"prompt":"é"}""",
        CreatedAt = new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.FromHours(2)).AddTicks(1_234_567),
        UpdatedAt = new DateTimeOffset(2026, 11, 22, 10, 4, 0, TimeSpan.FromHours(2)).AddTicks(7),
        CompletedAt = new DateTimeOffset(2026, 11, 22, 8, 3, 59, TimeSpan.Zero).AddTicks(9_999_999),
        RefreshedAt = new DateTimeOffset(2026, 11, 22, 3, 4, 0, TimeSpan.FromHours(-5)).AddTicks(1),
        Billing = GenerationBilling.Billed,
        Version = 3,
        NextRefreshAt = new DateTimeOffset(2026, 11, 22, 8, 5, 0, TimeSpan.Zero).AddTicks(3),
        RefreshFailures = 2,
        DeadlinePassedAt = new DateTimeOffset(2026, 11, 22, 8, 30, 0, TimeSpan.Zero).AddTicks(5),
        Kept = new KeptVideo(KeptVideoState.Stored, 2, new DateTimeOffset(2026, 11, 22, 8, 6, 0, TimeSpan.Zero), "gen_x.mp4", 5_150_376,
            "video/mp4", "ab12cd", new DateTimeOffset(2026, 11, 22, 8, 7, 0, TimeSpan.Zero).AddTicks(11), "a retried fault"),
        WebhookUrl = "https://hooks.example.com/kling/orders/7?token=t",
    };

    /// <summary>
    /// What the ledger holds after an update of <paramref name="created"/> with <paramref name="update"/>: the update's
    /// outcome fields, and everything else as the create fixed it.
    /// </summary>
    public static Generation Updated(Generation created, Generation update) => created with
    {
        UpstreamId = update.UpstreamId,
        Status = update.Status,
        UpstreamStatus = update.UpstreamStatus,
        Video = update.Video,
        Error = update.Error,
        Usage = update.Usage,
        UpdatedAt = update.UpdatedAt,
        CompletedAt = update.CompletedAt,
        RefreshedAt = update.RefreshedAt,
        Refunded = update.Refunded,
        Billing = update.Billing,
        NextRefreshAt = update.NextRefreshAt,
        RefreshFailures = update.RefreshFailures,
        DeadlinePassedAt = update.DeadlinePassedAt,
        Kept = update.Kept,
        Version = created.Version + 1,
    };

    /// <summary>Asserts two generations hold the same values (the list is compared by content, not reference).</summary>
    public static void AssertSame(Generation expected, Generation? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Warnings, actual.Warnings);
        GenerationWarning[] none = [];
        Assert.Equal(expected with { Warnings = none }, actual with { Warnings = none });
        Assert.Equal(expected.CreatedAt.UtcTicks, actual.CreatedAt.UtcTicks);
    }
}
