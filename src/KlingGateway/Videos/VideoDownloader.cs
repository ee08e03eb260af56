using System.Buffers;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using KlingGateway.Generations;
using Microsoft.Extensions.Options;

namespace KlingGateway.Videos;

/// <summary>How one download attempt ended.</summary>
/// <param name="Stored">The kept video, when it was stored.</param>
/// <param name="Error">Why it was not, for the ledger and the log (never a URL: a signed link is a credential).</param>
/// <param name="Transient">Whether another attempt may succeed (no connection, a timeout, 408, 429, 5xx, a cut body).</param>
public sealed record DownloadOutcome(KeptVideo? Stored, string? Error, bool Transient)
{
    public static DownloadOutcome Retry(string error) => new(null, error, Transient: true);

    public static DownloadOutcome Refused(string error) => new(null, error, Transient: false);
}

/// <summary>
/// Downloads a finished generation's video from its source into storage, streamed (never held whole in memory) with a
/// size cap, checking the content type, the length and the first bytes, and hashing as it goes.
/// </summary>
public sealed partial class VideoDownloader(
    VideoSourceClient source, IVideoStorage storage, IOptions<StorageOptions> options, TimeProvider time, ILogger<VideoDownloader> logger)
{
    private const int BufferSize = 81_920;

    /// <summary>The storage key of a generation's video.</summary>
    public static string KeyOf(Generation generation) => $"{generation.Id}.mp4";

    /// <summary>One attempt; never throws for a fault of the source or the storage.</summary>
    public async Task<DownloadOutcome> DownloadAsync(Generation generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (!VideoSourceClient.IsFetchable(generation.Video?.Url, out var url))
        {
            return DownloadOutcome.Refused("The video's URL is not an absolute http(s) URL.");
        }

        var settings = options.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.DownloadTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("video/*"));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/octet-stream", 0.5));
            using var response = await source.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                var error = $"The video's source answered {status}.";
                return status is 408 or 429 or >= 500 ? DownloadOutcome.Retry(error) : DownloadOutcome.Refused(error);
            }

            var declared = response.Content.Headers.ContentType?.MediaType?.ToLowerInvariant();
            if (declared is not null && !declared.StartsWith("video/", StringComparison.Ordinal)
                && declared is not ("application/octet-stream" or "binary/octet-stream"))
            {
                return DownloadOutcome.Refused($"The video's source answered with {declared}, not a video.");
            }

            var length = response.Content.Headers.ContentLength;
            if (length > settings.MaxVideoBytes)
            {
                return DownloadOutcome.Refused($"The video is {length} bytes, more than Storage:MaxVideoBytes ({settings.MaxVideoBytes}).");
            }

            var key = KeyOf(generation);
            Copied? copied = null;
            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            await storage.WriteAsync(key, async (output, token) => copied = await CopyAsync(body, output, settings.MaxVideoBytes, token), timeout.Token);
            var result = copied!;
            if (length is { } expected && result.Bytes != expected)
            {
                await storage.DeleteAsync(key, CancellationToken.None);
                return DownloadOutcome.Retry($"The video's source sent {result.Bytes} bytes of the {expected} it announced.");
            }

            var type = declared is not null && declared.StartsWith("video/", StringComparison.Ordinal) ? declared : result.SniffedType;
            LogStored(logger, generation.Id, result.Bytes, type);
            return new DownloadOutcome(new KeptVideo(KeptVideoState.Stored, generation.Kept?.Attempts ?? 1, null, key, result.Bytes, type,
                Convert.ToHexStringLower(result.Sha256), time.GetUtcNow()), null, Transient: false);
        }
        catch (NotAVideoException exception)
        {
            return DownloadOutcome.Refused(exception.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return DownloadOutcome.Retry($"The download did not finish within Storage:DownloadTimeout ({settings.DownloadTimeout}).");
        }
        catch (HttpRequestException exception)
        {
            // The message of a connection fault can name the host and path of a signed link: only its kind is kept.
            return DownloadOutcome.Retry($"The video's source could not be read ({exception.HttpRequestError}).");
        }
        catch (IOException exception)
        {
            LogStorageFault(logger, generation.Id, exception.GetType().Name);
            return DownloadOutcome.Retry("The video could not be written to storage, or its source broke off.");
        }
    }

    /// <summary>Copies with the cap, hashing, and keeping the first bytes for the signature check.</summary>
    private static async Task<Copied> CopyAsync(Stream body, Stream output, long cap, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        var head = new byte[12];
        var headLength = 0;
        long total = 0;
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                total += read;
                if (total > cap)
                {
                    throw new NotAVideoException($"The video is more than Storage:MaxVideoBytes ({cap}) bytes.");
                }

                if (headLength < head.Length)
                {
                    var take = Math.Min(read, head.Length - headLength);
                    buffer.AsSpan(0, take).CopyTo(head.AsSpan(headLength));
                    headLength += take;
                }

                hash.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var sniffed = Sniff(head.AsSpan(0, headLength))
            ?? throw new NotAVideoException("The video's source sent something that is not an MP4, QuickTime or WebM file.");
        return new Copied(total, hash.GetHashAndReset(), sniffed);
    }

    /// <summary>
    /// The container by its signature: an ISO base media file (MP4, QuickTime) starts with a box whose type, at byte 4,
    /// is <c>ftyp</c> (ISO/IEC 14496-12, 4.3); WebM and Matroska start with the EBML magic <c>1A 45 DF A3</c> (RFC 9559, 4).
    /// </summary>
    internal static string? Sniff(ReadOnlySpan<byte> head) =>
        head.Length >= 8 && head[4..8].SequenceEqual("ftyp"u8) ? (head.Length >= 12 && head[8..10].SequenceEqual("qt"u8) ? "video/quicktime" : "video/mp4")
        : head.Length >= 4 && head[..4].SequenceEqual((ReadOnlySpan<byte>)[0x1A, 0x45, 0xDF, 0xA3]) ? "video/webm"
        : null;

    private sealed record Copied(long Bytes, byte[] Sha256, string SniffedType);

    private sealed class NotAVideoException(string message) : Exception(message);

    [LoggerMessage(EventId = 8001, Level = LogLevel.Information,
        Message = "Video of generation {GenerationId} stored: {Bytes} bytes of {ContentType}")]
    private static partial void LogStored(ILogger logger, string generationId, long bytes, string contentType);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Warning,
        Message = "Video of generation {GenerationId}: storage or source fault ({Error}); it will be tried again")]
    private static partial void LogStorageFault(ILogger logger, string generationId, string error);
}
