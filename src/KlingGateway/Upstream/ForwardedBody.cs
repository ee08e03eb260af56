using System.Buffers;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using KlingGateway.Models;

namespace KlingGateway.Upstream;

/// <summary>
/// The validated body, written straight to the upstream connection: no second buffer of what may be megabytes of
/// base64. It differs from what the caller sent in three ways only: JSON nulls (meaning "not given") are left
/// out; the fields the catalog takes on the legacy route only (<c>type</c>, <c>external_task_id</c>) are left out on the
/// universal family; and a <c>data:image/...;base64,</c> prefix is cut, because Kling takes bare base64 only
/// (docs/upstream.md, "Validation").
/// When it must be rewritten, string values go out in pieces of <see cref="SegmentBytes"/>, so the writer never holds
/// a whole image either.
/// </summary>
internal sealed class ForwardedBody(GenerationRequest request, string family) : HttpContent
{
    // Base64 is full of '+' and '/', which the default encoder would escape and so grow the body.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // The most of one string value written at a time, and how much the writer holds before it goes to the connection.
    private const int SegmentBytes = 64 * 1024;

    private readonly Dictionary<string, int> _prefixes = request.Images
        .Where(i => i.DataUriPrefixLength > 0)
        .ToDictionary(i => i.Path, i => i.DataUriPrefixLength, StringComparer.Ordinal);

    private bool? _sendsAsIs;

    /// <summary>Whether the body needs none of the three changes, so its bytes can be sent unchanged (decided once).</summary>
    private bool SendsAsIs => _sendsAsIs ??= _prefixes.Count == 0 && !request.Root.EnumerateObject().Any(IsLeftOut);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        await SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (SendsAsIs)
        {
            // Nothing to leave out or cut: the caller's bytes go out as they came, with no second copy of the images.
            await stream.WriteAsync(request.Utf8Json, cancellationToken);
            return;
        }

        await using var writer = new Utf8JsonWriter(stream, WriterOptions);
        writer.WriteStartObject();
        foreach (var property in request.Root.EnumerateObject())
        {
            if (IsLeftOut(property))
            {
                continue;
            }

            writer.WritePropertyName(property.Name);
            await WriteValueAsync(writer, property.Value, property.Name, cancellationToken);
        }

        writer.WriteEndObject();
        await writer.FlushAsync(cancellationToken);
    }

    /// <summary>A JSON null ("not given"), or a field only the legacy family takes when forwarding on the universal one.</summary>
    private bool IsLeftOut(JsonProperty property) =>
        property.Value.ValueKind == JsonValueKind.Null ||
        (family == UpstreamRouteFamily.Universal && CatalogShapes.LegacyFamilyOnlyFields.Contains(property.Name));

    protected override bool TryComputeLength(out long length)
    {
        length = SendsAsIs ? request.Utf8Json.Length : 0;
        return length > 0;
    }

    private async ValueTask WriteValueAsync(Utf8JsonWriter writer, JsonElement value, string path, CancellationToken cancellationToken)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                await WriteStringAsync(writer, value, _prefixes.GetValueOrDefault(path), cancellationToken);
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    await WriteValueAsync(writer, item, ChildPath(path, index++), cancellationToken);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in value.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    await WriteValueAsync(writer, property.Value, ChildPath(path, property.Name), cancellationToken);
                }

                writer.WriteEndObject();
                break;
            default:
                value.WriteTo(writer);
                break;
        }
    }

    // Paths name where an image sits (request.Images); with no data URI to cut, none is needed.
    private string ChildPath(string path, int index) => _prefixes.Count == 0 ? path : $"{path}[{index}]";

    private string ChildPath(string path, string property) => _prefixes.Count == 0 ? path : $"{path}.{property}";

    /// <summary>
    /// A string value, less its first <paramref name="skip"/> characters (a data URI prefix). Written whole, a 7 MB
    /// image would first need a buffer of its own size in the writer: a second copy for every create.
    /// </summary>
    private static async ValueTask WriteStringAsync(Utf8JsonWriter writer, JsonElement value, int skip, CancellationToken cancellationToken)
    {
        // In .NET 10 the raw value of a string includes its quotes. A span cannot live across an await, so the pieces
        // are sliced from the document afresh each time.
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (raw.IndexOf((byte)'\\') < 0)
        {
            await WriteSegmentsAsync(writer, (start, count) => JsonMarshal.GetRawUtf8Value(value).Slice(start, count),
                1 + skip, raw.Length - 1, cancellationToken);
            return;
        }

        // Escapes (e.g. "\/" as some JSON writers emit inside base64): unescaped once into a pooled buffer, as the
        // image check does, and written from there.
        var buffer = ImageInspector.RentUnescaped(value, out var written);
        try
        {
            await WriteSegmentsAsync(writer, (start, count) => buffer.AsSpan(start, count), skip, written, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private delegate ReadOnlySpan<byte> Slice(int start, int count);

    /// <summary>Bytes [start, end) of unescaped UTF-8 as one JSON string, in pieces, the connection written between them.</summary>
    private static async ValueTask WriteSegmentsAsync(Utf8JsonWriter writer, Slice slice, int start, int end, CancellationToken cancellationToken)
    {
        var offset = start;
        do
        {
            var count = Math.Min(SegmentBytes, end - offset);
            writer.WriteStringValueSegment(slice(offset, count), isFinalSegment: offset + count == end);
            offset += count;
            if (writer.BytesPending >= SegmentBytes)
            {
                await writer.FlushAsync(cancellationToken);
            }
        }
        while (offset < end);
    }
}
