using System.Net;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using KlingGateway.Models;

namespace KlingGateway.Upstream;

/// <summary>
/// The validated body, written straight to the upstream connection: no second buffer of what may be megabytes of
/// base64. It differs from what the caller sent in three ways only: JSON nulls (meaning "not given") are left
/// out; <c>type</c> and <c>external_task_id</c>, which only the legacy family takes, are left out on the universal
/// family; and a <c>data:image/...;base64,</c> prefix is cut, because Kling takes bare base64 only (RESEARCH.md §10).
/// </summary>
internal sealed class ForwardedBody(GenerationRequest request, string family) : HttpContent
{
    // Base64 is full of '+' and '/', which the default encoder would escape and so grow the body.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly string[] LegacyOnly = ["type", "external_task_id"];

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
            WriteValue(writer, property.Value, property.Name);
            if (writer.BytesPending > 64 * 1024)
            {
                await writer.FlushAsync(cancellationToken);
            }
        }

        writer.WriteEndObject();
        await writer.FlushAsync(cancellationToken);
    }

    /// <summary>A JSON null ("not given"), or a field only the legacy family takes when forwarding on the universal one.</summary>
    private bool IsLeftOut(JsonProperty property) =>
        property.Value.ValueKind == JsonValueKind.Null ||
        (family == UpstreamRouteFamily.Universal && LegacyOnly.Contains(property.Name));

    protected override bool TryComputeLength(out long length)
    {
        length = SendsAsIs ? request.Utf8Json.Length : 0;
        return length > 0;
    }

    private void WriteValue(Utf8JsonWriter writer, JsonElement value, string path)
    {
        if (_prefixes.Count == 0)
        {
            value.WriteTo(writer);
            return;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.String when _prefixes.TryGetValue(path, out var prefixLength):
                var raw = JsonMarshal.GetRawUtf8Value(value);   // includes the quotes
                if (raw.IndexOf((byte)'\\') < 0)
                {
                    writer.WriteStringValue(raw[(1 + prefixLength)..^1]);
                }
                else
                {
                    writer.WriteStringValue(value.GetString().AsSpan(prefixLength));
                }

                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    WriteValue(writer, item, $"{path}[{index++}]");
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in value.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    WriteValue(writer, property.Value, $"{path}.{property.Name}");
                }

                writer.WriteEndObject();
                break;
            default:
                value.WriteTo(writer);
                break;
        }
    }

}
