using System.Security.Cryptography;
using System.Text.Json;
using KlingGateway.Models;
using KlingGateway.Tests.Validation;
using KlingGateway.Upstream;

namespace KlingGateway.Tests.Upstream;

/// <summary>
/// What goes to the upstream for a create that cannot be sent byte for byte: a data URI prefix cut, JSON nulls left
/// out, escapes undone. The images in such bodies run to megabytes, so the body is also held to making no second copy
/// of them on the way out.
/// </summary>
public sealed class ForwardedBodyTests
{
    // 7 MB of base64, as in the benchmark's big create.
    private static readonly byte[] BigPng = TestImages.Png(4000, 3000, 5 * 1024 * 1024);

    [Fact]
    public async Task SevenMegabyteDataUri_GoesOutAsBareBase64_WithTheOtherFieldsAsSent()
    {
        var base64 = Convert.ToBase64String(BigPng);
        using var request = Parse($$"""
            {"model":"{{Requests.V21Pro}}","prompt":"A wave breaks.","negative_prompt":null,
             "image_url":"data:image/png;base64,{{base64}}","duration":"5"}
            """);

        var sent = await SendAsync(request);

        Assert.Equal(["model", "prompt", "image_url", "duration"], sent.EnumerateObject().Select(p => p.Name));
        Assert.Equal(base64, sent.GetProperty("image_url").GetString());
        Assert.Equal("A wave breaks.", sent.GetProperty("prompt").GetString());
        Assert.Equal("5", sent.GetProperty("duration").GetString());
    }

    [Fact]
    public async Task EscapedDataUri_GoesOutUnescaped_AndBare()
    {
        // Some JSON writers escape every '/' as "\/", and base64 is full of them: 0xFF bytes, past the PNG's header,
        // encode as "////".
        var png = TestImages.Png(1280, 720, 300 * 1024);
        png.AsSpan(64).Fill(0xFF);
        var base64 = Convert.ToBase64String(png);
        using var request = Parse($$"""
            {"model":"{{Requests.V21Pro}}","image_url":"data:image\/png;base64,{{base64.Replace("/", "\\/", StringComparison.Ordinal)}}"}
            """);

        var sent = await SendAsync(request);

        Assert.Equal(png, Convert.FromBase64String(sent.GetProperty("image_url").GetString()!));
    }

    [Fact]
    public async Task BareBase64_WithANullBeside_GoesOutWhole()
    {
        var base64 = Convert.ToBase64String(BigPng);
        using var request = Parse($$"""
            {"model":"{{Requests.V1Pro}}","image_url":"{{base64}}","tail_image_url":"{{Requests.Url}}","cfg_scale":0.5,"negative_prompt":null}
            """);

        var sent = await SendAsync(request);

        Assert.Equal(["model", "image_url", "tail_image_url", "cfg_scale"], sent.EnumerateObject().Select(p => p.Name));
        Assert.Equal(SHA256.HashData(BigPng), SHA256.HashData(Convert.FromBase64String(sent.GetProperty("image_url").GetString()!)));
        Assert.Equal(Requests.Url, sent.GetProperty("tail_image_url").GetString());
        Assert.Equal(0.5, sent.GetProperty("cfg_scale").GetDouble());
    }

    [Fact]
    public async Task SevenMegabyteDataUri_IsWrittenWithoutASecondCopyOfTheImage()
    {
        var base64 = Convert.ToBase64String(BigPng);
        using var request = Parse($$"""{"model":"{{Requests.V21Pro}}","image_url":"data:image/png;base64,{{base64}}"}""");
        using var body = new ForwardedBody(request, UpstreamRouteFamily.Universal);
        var output = new CountingStream();

        // The output completes every write at once, so the whole body is written on this thread and its allocations
        // are this thread's.
        var before = GC.GetAllocatedBytesForCurrentThread();
        var copy = body.CopyToAsync(output);
        Assert.True(copy.IsCompleted);
        await copy;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // The body as it came, less the prefix.
        Assert.Equal(request.Utf8Json.Length - "data:image/png;base64,".Length, output.Bytes);
        // Written whole, the value took a buffer of its own size (7.0 MB here); in pieces, a small fraction of it.
        Assert.True(allocated < base64.Length / 8, $"Writing the body allocated {allocated:N0} bytes for a {base64.Length:N0}-byte image.");
    }

    private static GenerationRequest Parse(string json)
    {
        var request = Requests.Parse(json);
        Assert.Equal(RequestRejection.None, request.Rejection);
        return request;
    }

    private static async Task<JsonElement> SendAsync(GenerationRequest request)
    {
        using var body = new ForwardedBody(request, UpstreamRouteFamily.Universal);
        using var output = new MemoryStream();
        await body.CopyToAsync(output);
        return JsonDocument.Parse(output.ToArray()).RootElement;
    }

    /// <summary>Counts what is written and keeps none of it; every write completes at once.</summary>
    private sealed class CountingStream : WriteOnlyStream
    {
        public long Bytes { get; private set; }

        public override void Write(byte[] buffer, int offset, int count) => Bytes += count;

        public override void Write(ReadOnlySpan<byte> buffer) => Bytes += buffer.Length;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Bytes += buffer.Length;
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Bytes += count;
            return Task.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
