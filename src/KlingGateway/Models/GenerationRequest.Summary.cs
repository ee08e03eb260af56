using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace KlingGateway.Models;

/// <summary>The redacted summary of a create body, for logs, the ledger and the idempotency hash.</summary>
public sealed partial class GenerationRequest
{
    private string? summary;

    /// <summary>
    /// The request as compact JSON for logs and the ledger: image data replaced by <c>sha256:&lt;hex&gt;</c> of the
    /// decoded bytes (URLs kept), and any other string too long to be a prompt replaced by its length. Built once: the
    /// ledger record and the idempotency hash both read it.
    /// </summary>
    public string Summary() => summary ??= BuildSummary();

    private string BuildSummary()
    {
        if (Rejection != RequestRejection.None)
        {
            return $$"""{"rejection":"{{Rejection}}"}""";
        }

        ObjectDisposedException.ThrowIf(disposed, this);
        var output = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(output))
        {
            WriteSummary(writer, Root, "");
        }

        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private const int SummaryStringLimit = 4096;

    // A number may be written with any count of digits; longer than this, the summary holds its value instead.
    private const int SummaryNumberLimit = 32;

    private void WriteSummary(Utf8JsonWriter writer, JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    WriteSummary(writer, property.Value, path.Length == 0 ? property.Name : path + "." + property.Name);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    WriteSummary(writer, item, string.Create(CultureInfo.InvariantCulture, $"{path}[{index++}]"));
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String when Image(path) is { } image:
                writer.WriteStringValue(
                    image.Url ?? (image.Data is { } data
                        ? "sha256:" + data.Sha256Hex
                        : string.Create(CultureInfo.InvariantCulture, $"(not an image: {JsonMarshal.GetRawUtf8Value(element).Length - 2} bytes)")));
                break;
            case JsonValueKind.String when JsonMarshal.GetRawUtf8Value(element).Length > SummaryStringLimit:
                writer.WriteStringValue(string.Create(CultureInfo.InvariantCulture, $"({JsonMarshal.GetRawUtf8Value(element).Length - 2} bytes omitted)"));
                break;
            case JsonValueKind.Number when JsonMarshal.GetRawUtf8Value(element).Length > SummaryNumberLimit && element.TryGetDouble(out var number):
                writer.WriteNumberValue(number);
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }
}
