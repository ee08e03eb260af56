using Microsoft.Extensions.Options;

namespace KlingGateway.Videos;

/// <summary>Where and how the gateway keeps finished videos. Section <c>Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>
    /// Keep videos (download each finished one and serve it from storage). Off: the content route always streams the
    /// video from the upstream's URL, and nothing is downloaded.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The directory videos are kept in. Unset: <c>videos</c> beside the SQLite ledger file (<c>Ledger:Path</c>). Several
    /// replicas must share it (a ReadWriteMany volume): any of them may download a video and any may serve it.
    /// </summary>
    public string? Path { get; set; }

    /// <summary>The largest video downloaded; a larger one is not kept (and is streamed from its source instead).</summary>
    public long MaxVideoBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// Time allowed for one download attempt. It is also the lease of a running download: a download whose replica died
    /// is taken up again after this long.
    /// </summary>
    public TimeSpan DownloadTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Attempts after transient faults (no connection, a timeout, 408, 429, 5xx) before a download gives up.</summary>
    public int DownloadAttempts { get; set; } = 6;

    /// <summary>The wait before the second attempt after a transient fault; it doubles with each attempt, up to ten minutes.</summary>
    public TimeSpan DownloadRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Downloads this replica runs at once.</summary>
    public int MaxConcurrentDownloads { get; set; } = 4;

    /// <summary>How long a video is kept after its generation completed; then the sweep removes it and the content route answers 410.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>The directory, absolute: <see cref="Path"/>, or <c>videos</c> beside the ledger file.</summary>
    public string ResolveDirectory(string contentRootPath, string ledgerFullPath) =>
        string.IsNullOrWhiteSpace(Path)
            ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(ledgerFullPath) ?? contentRootPath, "videos")
            : System.IO.Path.GetFullPath(System.IO.Path.Combine(contentRootPath, Path));
}

/// <summary>What the gateway hands out as a video's URL. Section <c>Videos</c>.</summary>
public sealed class VideoLinkOptions
{
    public const string Section = "Videos";

    /// <summary>
    /// The gateway's public base URL for the video links it hands out (for example <c>https://kling.internal.example</c>),
    /// when the one a request arrives with is not what callers use (a reverse proxy in front). Unset: the request's own.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>How long a video link stays valid. Reading the generation again gives a fresh one.</summary>
    public TimeSpan LinkLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The secret video links are signed with (32 characters or more), the same on every replica. Unset: a random one is
    /// made once and kept in the ledger, which every replica shares. Changing it ends every link handed out.
    /// </summary>
    public string? LinkSigningSecret { get; set; }

    /// <summary>
    /// What <c>video.url</c> is on the upstream-compatible routes: <c>gateway</c> (the gateway's own link, which works
    /// behind the firewall) or <c>upstream</c> (the upstream's URL, passed through). The gateway's own routes always give
    /// its own link.
    /// </summary>
    public string CompatibleVideoUrl { get; set; } = GatewayUrl;

    public const string GatewayUrl = "gateway";
    public const string UpstreamUrl = "upstream";
}

/// <summary>Refuses to start with storage or link settings that cannot work, naming the setting.</summary>
internal sealed class VideoOptionsValidator : IValidateOptions<StorageOptions>, IValidateOptions<VideoLinkOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageOptions options)
    {
        List<string> failures = [];
        if (options.Path is { } path && (string.IsNullOrWhiteSpace(path) || path.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0))
        {
            failures.Add("Storage:Path (Storage__Path) must be a directory path, for example /data/videos.");
        }

        if (options.MaxVideoBytes < 1024)
        {
            failures.Add("Storage:MaxVideoBytes (Storage__MaxVideoBytes) must be at least 1024 bytes (default 268435456, 256 MB).");
        }

        if (options.DownloadTimeout < TimeSpan.FromSeconds(1) || options.DownloadTimeout > TimeSpan.FromHours(1))
        {
            failures.Add("Storage:DownloadTimeout (Storage__DownloadTimeout) must be between 00:00:01 and 01:00:00.");
        }

        if (options.DownloadAttempts is < 1 or > 100)
        {
            failures.Add("Storage:DownloadAttempts (Storage__DownloadAttempts) must be between 1 and 100.");
        }

        if (options.DownloadRetryDelay < TimeSpan.FromMilliseconds(10) || options.DownloadRetryDelay > TimeSpan.FromHours(1))
        {
            failures.Add("Storage:DownloadRetryDelay (Storage__DownloadRetryDelay) must be between 00:00:00.010 and 01:00:00.");
        }

        if (options.MaxConcurrentDownloads is < 1 or > 64)
        {
            failures.Add("Storage:MaxConcurrentDownloads (Storage__MaxConcurrentDownloads) must be between 1 and 64.");
        }

        if (options.Retention < TimeSpan.FromSeconds(1))
        {
            failures.Add("Storage:Retention (Storage__Retention) must be positive, for example 30.00:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    public ValidateOptionsResult Validate(string? name, VideoLinkOptions options)
    {
        List<string> failures = [];
        if (options.PublicBaseUrl is { } baseUrl
            && (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment)))
        {
            failures.Add("Videos:PublicBaseUrl (Videos__PublicBaseUrl) must be an absolute http(s) URL without a query, such as https://kling.internal.example.");
        }

        if (options.LinkLifetime < TimeSpan.FromMinutes(1) || options.LinkLifetime > TimeSpan.FromDays(7))
        {
            failures.Add("Videos:LinkLifetime (Videos__LinkLifetime) must be between 00:01:00 and 7.00:00:00.");
        }

        // The value is never repeated: it is a secret.
        if (options.LinkSigningSecret is { } secret && secret.Trim().Length < 32)
        {
            failures.Add("Videos:LinkSigningSecret (Videos__LinkSigningSecret) must be at least 32 characters; leave it unset to keep a random one in the ledger.");
        }

        if (options.CompatibleVideoUrl is not (VideoLinkOptions.GatewayUrl or VideoLinkOptions.UpstreamUrl))
        {
            failures.Add("Videos:CompatibleVideoUrl (Videos__CompatibleVideoUrl) must be 'gateway' or 'upstream'.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
