using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using KlingGateway.Generations;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace KlingGateway.Videos;

/// <summary>
/// The gateway's video links: <c>{base}/v1/generations/{id}/content?token={expiry}.{signature}</c>. A <c>&lt;video&gt;</c>
/// element and a client written for the upstream fetch <c>video.url</c> with a plain GET and no credentials (the
/// upstream's own links need none), so the link carries its own short-lived proof: an HMAC-SHA256 over the generation id
/// and the expiry (RFC 2104), with a key derived by HKDF (RFC 5869) from a secret every replica shares. The secret is
/// <c>Videos:LinkSigningSecret</c>, or else a random one made once and kept in the ledger; it is never the upstream key.
/// The token is in the query, which the gateway never logs, and is never forwarded to a video's source.
/// </summary>
public sealed class VideoLinks(
    IGenerationStore store, IOptions<VideoLinkOptions> options, IOptions<StorageOptions> storage, TimeProvider time) : IHostedLifecycleService
{
    /// <summary>The query parameter that carries the token.</summary>
    public const string TokenParameter = "token";

    private const string LedgerSecretName = "video-link-signing";
    private static readonly byte[] KeyInfo = "kling-gateway video link v1"u8.ToArray();

    // Expiries are rounded up to this step, so reads close together hand out the same URL and a browser's cache holds.
    private static readonly TimeSpan ExpiryStep = TimeSpan.FromMinutes(5);

    private byte[]? _key;

    /// <summary>
    /// The absolute link to a generation's content: the public base URL when one is set, else the request's own scheme,
    /// host and path base.
    /// </summary>
    public string ContentUrl(HttpRequest request, string generationId) => ContentUrl(BaseUrl(request), generationId);

    /// <summary>
    /// The base of the links a request is handed: the public base URL when one is set, else the request's own scheme,
    /// host and path base.
    /// </summary>
    public string BaseUrl(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PublicBaseUrl ?? $"{request.Scheme}://{request.Host.ToUriComponent()}{request.PathBase.ToUriComponent()}";
    }

    /// <summary>
    /// The base of the links in what is sent without a request to answer (webhooks): the public base URL, or empty, which
    /// makes the links relative to wherever the gateway is reached.
    /// </summary>
    public string? PublicBaseUrl => options.Value.PublicBaseUrl is { Length: > 0 } configured ? configured.TrimEnd('/') : null;

    /// <summary>The link to a generation's content under <paramref name="baseUrl"/>.</summary>
    public string ContentUrl(string baseUrl, string generationId) =>
        $"{baseUrl}/v1/generations/{generationId}/content?{TokenParameter}={Token(generationId, ExpiryFor(time.GetUtcNow()))}";

    /// <summary>The video as the gateway's own routes show it; <see langword="null"/> when the generation has none.</summary>
    public VideoResource? Describe(Generation generation, HttpRequest request) => Describe(generation, BaseUrl(request));

    /// <summary>The video as the gateway's own routes show it, its link under <paramref name="baseUrl"/>.</summary>
    public VideoResource? Describe(Generation generation, string baseUrl)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (generation.Video is not { } video)
        {
            return null;
        }

        var kept = generation.Kept;
        var stored = kept?.State == KeptVideoState.Stored;
        return new VideoResource(
            ContentUrl(baseUrl, generation.Id),
            stored ? kept!.ContentType : video.ContentType,
            video.FileName,
            stored ? kept!.Size : video.FileSize,
            kept?.State switch
            {
                KeptVideoState.Stored => "stored",
                KeptVideoState.Pending => "pending",
                KeptVideoState.Failed => "failed",
                KeptVideoState.Expired => "expired",
                _ => "not_kept",
            },
            stored ? kept!.Sha256 : null,
            ExpiryFor(time.GetUtcNow()),
            kept is { State: not KeptVideoState.Expired } && generation.CompletedAt is { } completed ? completed + storage.Value.Retention : null);
    }

    /// <summary>The video as the upstream-compatible routes show it (<c>Videos:CompatibleVideoUrl</c> picks the URL).</summary>
    public CompatibleVideo? DescribeCompatible(Generation generation, HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (generation.Video is not { } video)
        {
            return null;
        }

        if (options.Value.CompatibleVideoUrl == VideoLinkOptions.UpstreamUrl)
        {
            return new CompatibleVideo(video.Url, video.ContentType, video.FileName, video.FileSize);
        }

        var kept = generation.Kept;
        var stored = kept?.State == KeptVideoState.Stored;
        return new CompatibleVideo(ContentUrl(request, generation.Id), stored ? kept!.ContentType : video.ContentType, video.FileName,
            stored ? kept!.Size : video.FileSize);
    }

    /// <summary>When a link made now stops working.</summary>
    public DateTimeOffset ExpiryFor(DateTimeOffset now)
    {
        var at = (now + options.Value.LinkLifetime).ToUnixTimeSeconds();
        var step = (long)ExpiryStep.TotalSeconds;
        return DateTimeOffset.FromUnixTimeSeconds((at + step - 1) / step * step);
    }

    /// <summary>The token for a generation and an expiry.</summary>
    public string Token(string generationId, DateTimeOffset expires)
    {
        var seconds = expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"{seconds}.{WebEncoders.Base64UrlEncode(Sign(generationId, seconds))}";
    }

    /// <summary>
    /// Whether <paramref name="token"/> is one this gateway made for <paramref name="generationId"/> and it has not
    /// expired. Compared in constant time; a malformed token is simply not valid.
    /// </summary>
    public bool IsValid(string generationId, string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 100)
        {
            return false;
        }

        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot is < 1 or > 12 || !long.TryParse(token.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds < time.GetUtcNow().ToUnixTimeSeconds())
        {
            return false;
        }

        byte[] presented;
        try
        {
            presented = WebEncoders.Base64UrlDecode(token, dot + 1, token.Length - dot - 1);
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(presented, Sign(generationId, token[..dot]));
    }

    private byte[] Sign(string generationId, string expirySeconds)
    {
        var key = _key ?? throw new InvalidOperationException("The video link key is not loaded yet: the host has not started.");
        // The id cannot hold a newline, so "id\nexpiry" names one pair only.
        return HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{generationId}\n{expirySeconds}"));
    }

    /// <summary>Loads the key before the server serves (after the ledger is migrated, which registers first).</summary>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var configured = options.Value.LinkSigningSecret?.Trim();
        var secret = configured is { Length: > 0 }
            ? Encoding.UTF8.GetBytes(configured)
            : Convert.FromBase64String(await store.GetOrAddSecretAsync(
                LedgerSecretName, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), cancellationToken));
        _key = HKDF.DeriveKey(HashAlgorithmName.SHA256, secret, 32, salt: [], info: KeyInfo);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
