using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace KlingGateway.Simulator;

/// <summary>
/// The upstream's file host: the video a completed generation links to. Without directives it is the embedded sample
/// with range support; a generation's <c>video*</c> directives make it fail (<c>video=404</c>, <c>video=500x2</c>), grow
/// (<c>video-bytes=N</c>: the sample followed by an MP4 <c>free</c> box, still a playable file), trickle
/// (<c>video-rate=N</c> bytes a second), lie about its type (<c>video-type=text/html</c>) or leave out its length
/// (<c>video-chunked</c>). Every request is recorded with its headers, apart from the API's.
/// </summary>
internal static class VideoFiles
{
    private static readonly ConcurrentDictionary<long, byte[]> Padded = new();

    public static async Task<IResult> ServeAsync(string name, HttpContext http, SimulatorState state, TimeProvider time)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (header, values) in http.Request.Headers)
        {
            headers[header] = string.Join(", ", values.ToArray());
        }

        state.RecordFileRequest(new RecordedRequest(http.Request.Method, http.Request.Path.Value ?? "/",
            http.Request.QueryString.Value ?? "", headers, "", time.GetUtcNow()));

        var generation = state.FindByFile($"{name}.mp4");
        if (generation is null)
        {
            return Results.File(SampleVideo.Bytes, SampleVideo.ContentType, enableRangeProcessing: true);
        }

        var number = generation.CountFileRequest();
        var scenario = generation.Scenario;
        if (scenario.VideoFault is { StatusCode: { } status } fault && (fault.Times is null || number <= fault.Times))
        {
            return Results.Text($"<html><body>{status}</body></html>", "text/html", statusCode: status);
        }

        var bytes = scenario.VideoBytes is { } size ? Padded.GetOrAdd(size, Pad) : SampleVideo.Bytes;
        var type = scenario.VideoType ?? SampleVideo.ContentType;
        if (scenario.VideoRate is null && !scenario.VideoChunked)
        {
            return Results.File(bytes, type, enableRangeProcessing: true);
        }

        http.Response.ContentType = type;
        if (!scenario.VideoChunked)
        {
            http.Response.ContentLength = bytes.Length;
        }

        if (HttpMethods.IsHead(http.Request.Method))
        {
            return Results.Empty;
        }

        // In tenths of a second, so a slow file still arrives steadily.
        var step = scenario.VideoRate is { } rate ? (int)Math.Clamp(rate / 10, 1, 1 << 20) : 64 * 1024;
        try
        {
            for (var offset = 0; offset < bytes.Length; offset += step)
            {
                await http.Response.Body.WriteAsync(bytes.AsMemory(offset, Math.Min(step, bytes.Length - offset)), http.RequestAborted);
                await http.Response.Body.FlushAsync(http.RequestAborted);
                if (scenario.VideoRate is not null)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, http.RequestAborted);
                }
            }
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The downloader went away (or was killed): nothing more to send.
        }

        return Results.Empty;
    }

    /// <summary>The sample followed by a <c>free</c> box filling it to <paramref name="size"/> bytes (ISO/IEC 14496-12, 8.1.2).</summary>
    private static byte[] Pad(long size)
    {
        var sample = SampleVideo.Bytes;
        if (size <= sample.Length + 8)
        {
            return sample[..(int)Math.Min(size, sample.Length)];
        }

        var bytes = new byte[size];
        sample.CopyTo(bytes, 0);
        var box = bytes.AsSpan(sample.Length);
        BinaryPrimitives.WriteUInt32BigEndian(box, (uint)box.Length);
        "free"u8.CopyTo(box[4..]);
        return bytes;
    }
}
