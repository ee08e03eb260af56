using System.Security.Cryptography;
using System.Text;

namespace KlingGateway.Simulator;

/// <summary>The body of an upstream request, read once by the recorder and reused by the handler.</summary>
internal sealed class BufferedBody(byte[] bytes)
{
    public byte[] Bytes { get; } = bytes;
}

/// <summary>
/// Records every request to the upstream routes in <see cref="SimulatorState"/> before it is answered
/// (not in <see cref="SimulatorOptions.Instant"/> mode, where only the body is read for the handler).
/// </summary>
internal sealed class RequestRecordingFilter(SimulatorState state, SimulatorOptions options, TimeProvider time) : IEndpointFilter
{
    /// <summary>Bodies above this are kept as a size and hash, so 500 large base64 bodies cannot fill memory.</summary>
    public const int MaxStoredBodyBytes = 1024 * 1024;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var bytes = await ReadBodyAsync(http.Request, http.RequestAborted);
        http.Features.Set(new BufferedBody(bytes));
        if (options.Instant)
        {
            return await next(context);
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in http.Request.Headers)
        {
            headers[name] = string.Join(", ", values.ToArray());
        }

        state.Record(new RecordedRequest(
            http.Request.Method,
            http.Request.Path.Value ?? "/",
            http.Request.QueryString.Value ?? "",
            headers,
            Describe(bytes),
            time.GetUtcNow()));

        return await next(context);
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } length and <= SimulatorApp.MaxRequestBodyBytes)
        {
            // One exact array rather than a growing stream and its copy.
            var exact = new byte[length];
            await request.Body.ReadExactlyAsync(exact, cancellationToken);
            return exact;
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    private static string Describe(byte[] bytes) =>
        bytes.Length <= MaxStoredBodyBytes
            ? Encoding.UTF8.GetString(bytes)
            : $"<{bytes.Length} bytes, sha256 {Convert.ToHexString(SHA256.HashData(bytes))}>";
}
