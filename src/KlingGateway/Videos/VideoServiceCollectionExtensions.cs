using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Videos;

public static partial class VideoServiceCollectionExtensions
{
    /// <summary>
    /// Keeping and serving videos: storage, the download worker, the retention sweep, the signed links, and YARP's
    /// forwarder for streaming a video not stored yet. Call after <c>AddGenerations</c>: the link key is read from the
    /// ledger once it is migrated.
    /// </summary>
    public static IServiceCollection AddVideos(this IServiceCollection services)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateOnStart();
        services.AddOptions<VideoLinkOptions>().BindConfiguration(VideoLinkOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>, VideoOptionsValidator>();
        services.AddSingleton<IValidateOptions<VideoLinkOptions>, VideoOptionsValidator>();

        services.AddSingleton<IVideoStorage>(provider =>
        {
            var environment = provider.GetRequiredService<IHostEnvironment>();
            var ledger = provider.GetRequiredService<IOptions<LedgerOptions>>().Value;
            var storage = provider.GetRequiredService<IOptions<StorageOptions>>().Value;
            return new FileVideoStorage(storage.ResolveDirectory(environment.ContentRootPath, ledger.ResolveFullPath(environment.ContentRootPath)));
        });
        services.AddSingleton<VideoSourceClient>();
        services.AddSingleton<VideoDownloader>();
        services.AddSingleton<VideoSourceStream>();
        services.AddHttpForwarder();
        // YARP logs each forwarded URL at Information; a video's URL can carry its host's signature in the query, which
        // is a credential, so only its warnings and errors are logged.
        services.AddLogging(logging => logging.AddFilter("Yarp", LogLevel.Warning));

        services.AddSingleton<VideoLinks>();
        services.AddHostedService(provider => provider.GetRequiredService<VideoLinks>());
        services.AddHostedService<StorageStartup>();
        services.AddHostedService<VideoDownloadWorker>();
        services.AddHostedService<RetentionSweep>();
        return services;
    }

    /// <summary>Before the server serves: the storage directory exists and can be written, or the start fails naming Storage:Path.</summary>
    private sealed partial class StorageStartup(IVideoStorage storage, IOptions<StorageOptions> options, ILogger<StorageStartup> logger)
        : IHostedLifecycleService
    {
        public async Task StartingAsync(CancellationToken cancellationToken)
        {
            if (!options.Value.Enabled)
            {
                LogStorageOff(logger);
                return;
            }

            await storage.EnsureWritableAsync(cancellationToken);
            LogStorage(logger, storage is FileVideoStorage files ? files.Directory : storage.GetType().Name);
        }

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(EventId = 8030, Level = LogLevel.Information, Message = "Videos are kept in {StorageLocation}")]
        private static partial void LogStorage(ILogger logger, string storageLocation);

        [LoggerMessage(EventId = 8031, Level = LogLevel.Warning,
            Message = "Storage:Enabled is false: videos are not kept, and every video is streamed from the upstream's URL while it serves it")]
        private static partial void LogStorageOff(ILogger logger);
    }
}
