using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace KlingGateway.Models;

/// <summary>Why a create body was refused before any field was looked at.</summary>
public enum RequestRejection
{
    /// <summary>The body is a JSON object; field validation decides the rest.</summary>
    None,

    /// <summary>Not sent as JSON (415).</summary>
    UnsupportedMediaType,

    /// <summary>Empty, unreadable or not valid JSON (400).</summary>
    MalformedJson,

    /// <summary>Valid JSON, but not an object (400).</summary>
    NotAnObject,

    /// <summary>Larger than <see cref="GenerationRequest.MaxBodyBytes"/> (413).</summary>
    TooLarge,

    /// <summary>The body stopped arriving, or arrived too slowly to read (408).</summary>
    TimedOut,

    /// <summary>
    /// Valid JSON, but a string in it is not text: invalid UTF-8 or an unpaired surrogate escape (400, with
    /// <see cref="GenerationRequest.RejectionErrors"/> naming each one's JSON path).
    /// </summary>
    InvalidText,

    /// <summary>
    /// Valid JSON or not, it holds more tokens than any valid body could (400, with
    /// <see cref="GenerationRequest.RejectionErrors"/> naming its largest collection and how many it holds).
    /// </summary>
    TooManyValues,

    /// <summary>
    /// The bodies being received across all requests already hold <c>Gateway:MaxBufferedBodyBytes</c> (503 with
    /// Retry-After).
    /// </summary>
    Busy,
}

/// <summary>
/// A create-generation body as the caller sent it, read once and kept as a pooled <see cref="JsonDocument"/>
/// so it can be forwarded as is. Binding never fails for bad input: it records a <see cref="Rejection"/>,
/// and <see cref="Creates.ValidationFilter"/> turns that, or the validator's findings, into a problem answer.
/// Image fields are inspected while parsing (<see cref="ImageInspector"/>): only their hashes and headers are kept.
/// </summary>
public sealed class GenerationRequest : IDisposable
{
    /// <summary>
    /// Largest body accepted: a full-size first and last frame (2 × 10 MB as base64, about 27 MB) with room for
    /// the other fields. Masks add more; Kling takes masks or a tail frame, not both (RESEARCH.md §10).
    /// </summary>
    /// <remarks>The default of <c>Gateway:MaxRequestBodyBytes</c>.</remarks>
    public const long MaxBodyBytes = 48L * 1024 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32 };

    private const int MaxModelIdBytes = 256;

    private readonly JsonDocument? document;
    private BodyBuffer? body;
    private bool disposed;
    private string? summary;

    private GenerationRequest(CreateRoute route, RequestRejection rejection, string? detail)
    {
        Route = route;
        Rejection = rejection;
        RejectionDetail = detail;
    }

    private GenerationRequest(CreateRoute route, JsonDocument document, BodyBuffer? body, ReadOnlyMemory<byte> utf8Json)
    {
        Utf8Json = utf8Json;
        Route = route;
        this.document = document;
        this.body = body;
        Root = document.RootElement;
        if (Root.ValueKind != JsonValueKind.Object)
        {
            Rejection = RequestRejection.NotAnObject;
            RejectionDetail = $"The request body must be a JSON object; it is {JsonKinds.Describe(Root)}.";
            return;
        }

        ReadFields();
    }

    /// <summary>The create route that received the body.</summary>
    public CreateRoute Route { get; }

    /// <summary>Why the body was refused outright; <see cref="RequestRejection.None"/> when it is a JSON object.</summary>
    public RequestRejection Rejection { get; }

    /// <summary>A message for the rejection. Never holds the body or image data.</summary>
    public string? RejectionDetail { get; }

    /// <summary>For <see cref="RequestRejection.InvalidText"/>: each bad string's JSON path and what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]>? RejectionErrors { get; private init; }

    /// <summary>Most faults a rejection lists, as validation lists at most 100.</summary>
    private const int MaxRejectionErrors = 100;

    /// <summary>The body object as sent (valid while <see cref="Rejection"/> is None and the request is not disposed).</summary>
    public JsonElement Root { get; }

    /// <summary>The body's bytes as sent (valid until the request is disposed), for forwarding without a second copy.</summary>
    public ReadOnlyMemory<byte> Utf8Json { get; }

    /// <summary>The <c>model</c> value when it is a string.</summary>
    public string? ModelId { get; private set; }

    /// <summary>The catalog entry for <see cref="ModelId"/>; null when missing or unknown.</summary>
    public ModelDefinition? Model { get; private set; }

    /// <summary>Fields accepted but ignored by the model; set by the validation filter.</summary>
    public IReadOnlyList<GenerationWarning> Warnings { get; set; } = [];

    /// <summary>5 or 10 when <c>duration</c> is a valid number or string.</summary>
    public int? Duration { get; private set; }

    // Text fields are read when asked for, after validation has bounded them: a refused body's 10 MB prompt is never
    // copied into a string.

    /// <summary><c>prompt</c> when it is a string.</summary>
    public string? Prompt => StringField("prompt");

    /// <summary><c>negative_prompt</c> when it is a string.</summary>
    public string? NegativePrompt => StringField("negative_prompt");

    /// <summary><c>cfg_scale</c> when it is a number.</summary>
    public double? CfgScale =>
        Field("cfg_scale") is { ValueKind: JsonValueKind.Number } value && value.TryGetDouble(out var number) ? number : null;

    /// <summary><c>provider</c> when it is a string, as sent.</summary>
    public string? Provider => StringField("provider");

    /// <summary><c>external_task_id</c> when it is a string (legacy route).</summary>
    public string? ExternalTaskId => StringField("external_task_id");

    private JsonElement? Field(string name)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return Rejection == RequestRejection.None && Root.TryGetProperty(name, out var value) ? value : null;
    }

    private string? StringField(string name) => Field(name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    /// <summary>
    /// Every image field found at a place the catalog has images (any model), with its JSON path. A mask list is read
    /// only up to the most items any model takes, so a body cannot make the gateway inspect more images than a valid one.
    /// </summary>
    public IReadOnlyList<ImageValue> Images { get; private set; } = [];

    private Dictionary<string, ImageValue>? imagesByPath;

    /// <summary>The image found at <paramref name="path"/> (e.g. <c>image_url</c>, <c>dynamic_masks[0].mask</c>); the first one when a field repeats.</summary>
    public ImageValue? Image(string path) => imagesByPath is not null && imagesByPath.TryGetValue(path, out var image) ? image : null;

    /// <summary>
    /// Minimal API binding: reads the current request's body. Returns a request carrying a
    /// <see cref="Rejection"/> for bad input; throws only when the request is aborted.
    /// </summary>
    public static async ValueTask<GenerationRequest?> BindAsync(HttpContext context)
    {
        var route = context.GetEndpoint()?.Metadata.GetMetadata<CreateRouteMetadata>()?.Route ?? CreateRoute.Gateway;
        var request = await ReadAsync(context, route);
        context.Response.RegisterForDispose(request);
        return request;
    }

    /// <summary>Parses an already-read UTF-8 JSON body. The memory must outlive the returned request.</summary>
    public static GenerationRequest Parse(ReadOnlyMemory<byte> utf8Json, CreateRoute route) => Parse(utf8Json, route, null);

    private static GenerationRequest Parse(ReadOnlyMemory<byte> utf8Json, CreateRoute route, BodyBuffer? body)
    {
        if (utf8Json.IsEmpty || IsWhitespace(utf8Json.Span))
        {
            ReturnToPool(body);
            return new GenerationRequest(route, RequestRejection.MalformedJson, "The request body is empty; send a JSON object.");
        }

        // Counted before the parser indexes it, so that the index is small whatever was sent.
        if (JsonText.Oversized(utf8Json.Span, JsonText.MaxTokens) is { } oversized)
        {
            ReturnToPool(body);
            var (path, children, isArray, tokens) = oversized;
            var message = string.Create(CultureInfo.InvariantCulture,
                $"{path} has {children} {(isArray ? "items" : "members")}, and the body {tokens} JSON tokens in all: more than the " +
                $"{JsonText.MaxTokens} a create body may hold (its rules allow a few thousand). Nothing in it was checked.");
            return new GenerationRequest(route, RequestRejection.TooManyValues,
                "Nothing was sent upstream. The body holds far more than any model's rules allow; errors names its largest part.")
            {
                RejectionErrors = new Dictionary<string, string[]>(StringComparer.Ordinal) { [path] = [message] },
            };
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json, DocumentOptions);
        }
        catch (JsonException e)
        {
            ReturnToPool(body);
            // The parser's own message can quote body text; give only the position.
            var where = e.LineNumber is { } line
                ? string.Create(CultureInfo.InvariantCulture, $" at line {line + 1}, byte {e.BytePositionInLine + 1} of that line")
                : "";
            return new GenerationRequest(route, RequestRejection.MalformedJson,
                $"The request body is not valid JSON: the parser stopped{where}.");
        }

        // The parser checks neither UTF-8 nor surrogate escapes inside strings, and reading a bad string later throws:
        // check the whole body once, and name each bad string's path when it fails.
        if (!JsonText.IsValid(utf8Json.Span))
        {
            var faults = JsonText.Faults(utf8Json.Span, MaxRejectionErrors);
            document.Dispose();
            ReturnToPool(body);
            return new GenerationRequest(route, RequestRejection.InvalidText,
                "Nothing was sent upstream. Every JSON string must be valid UTF-8 text; errors names each one that is not.")
            {
                RejectionErrors = faults
                    .GroupBy(f => f.Key, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.Select(f => $"{f.Key} {f.Value}").ToArray(), StringComparer.Ordinal),
            };
        }

        return new GenerationRequest(route, document, body, utf8Json);
    }

    private static async ValueTask<GenerationRequest> ReadAsync(HttpContext context, CreateRoute route)
    {
        var maxBytes = context.RequestServices.GetService<IOptions<GatewayOptions>>()?.Value.MaxRequestBodyBytes ?? MaxBodyBytes;
        var budget = context.RequestServices.GetService<BodyBufferBudget>();
        var http = context.Request;
        var length = http.ContentLength;
        var hasBody = length > 0 || (length is null && http.Headers.TransferEncoding.Count > 0);
        if (!http.HasJsonContentType() && (hasBody || http.ContentType is not null))
        {
            return new GenerationRequest(route, RequestRejection.UnsupportedMediaType,
                "Send the body as JSON with Content-Type: application/json.");
        }

        if (length > maxBytes)
        {
            return TooLarge(route, maxBytes);
        }

        // Let the server's own limit (Kestrel: 30 MB by default) match ours, while the body is still unread.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        // The buffer grows with what arrives, up to the announced length (and one byte to see the end) or the limit;
        // Content-Length alone never sizes it.
        var atMost = (int)Math.Min(length ?? maxBytes, maxBytes) + 1;
        var buffer = new BodyBuffer(budget);
        try
        {
            while (true)
            {
                if (buffer.Free.IsEmpty && !await buffer.GrowAsync(atMost, context.RequestAborted))
                {
                    buffer.Dispose();
                    return Busy(route);
                }

                var n = await http.Body.ReadAsync(buffer.Free, context.RequestAborted);
                if (n == 0)
                {
                    break;
                }

                buffer.Advance(n);
                if (buffer.Length > maxBytes)
                {
                    buffer.Dispose();
                    return TooLarge(route, maxBytes);
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            buffer.Dispose();
            return TooLarge(route, maxBytes);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status408RequestTimeout)
        {
            // Kestrel gave up on a body arriving below its minimum data rate.
            buffer.Dispose();
            return new GenerationRequest(route, RequestRejection.TimedOut,
                "The request body arrived too slowly (under 240 bytes a second) and reading it was given up. Send it again.");
        }
        catch (BadHttpRequestException)
        {
            buffer.Dispose();
            context.RequestAborted.ThrowIfCancellationRequested();
            return new GenerationRequest(route, RequestRejection.MalformedJson, "The request body could not be read completely.");
        }
        catch
        {
            buffer.Dispose();
            throw;
        }

        // The parser takes an index of about the body's size (JsonDocument rents it from the shared pool while it
        // parses): reserve that too.
        var index = (long)buffer.Length;
        if (budget is not null && !await budget.ReserveAsync(index, context.RequestAborted))
        {
            buffer.Dispose();
            return Busy(route);
        }

        try
        {
            return Parse(buffer.Memory, route, buffer);
        }
        finally
        {
            budget?.Release(index);
        }
    }

    private static GenerationRequest Busy(CreateRoute route) => new(route, RequestRejection.Busy,
        string.Create(CultureInfo.InvariantCulture,
            $"The gateway is holding as many request bodies as it may (Gateway:MaxBufferedBodyBytes). Retry after {BodyBufferBudget.RetryAfterSeconds} s."));

    private static GenerationRequest TooLarge(CreateRoute route, long maxBytes) => new(route, RequestRejection.TooLarge,
        string.Create(CultureInfo.InvariantCulture,
            $"The request body is larger than {maxBytes / (1024 * 1024)} MB. Images may be at most 10 MB each; an https URL avoids sending them inline."));

    private static bool IsWhitespace(ReadOnlySpan<byte> span) => span.TrimStart(" \t\r\n"u8).IsEmpty;

    private static void ReturnToPool(BodyBuffer? buffer) => buffer?.Dispose();

    private void ReadFields()
    {
        var images = new List<ImageValue>();
        foreach (var property in Root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model" when value.ValueKind == JsonValueKind.String:
                    // No model id is long; a long value is kept cut, for the audit event, and matches none.
                    var raw = JsonMarshal.GetRawUtf8Value(value);
                    ModelId = raw.Length <= MaxModelIdBytes ? value.GetString() : JsonText.DisplayName(raw[1..^1]);
                    Model = ModelCatalog.Find(ModelId);
                    break;
                case "duration":
                    Duration = ReadDuration(value);
                    break;
            }

            // Image places come from the catalog (any model's), so a sixth model's image field is found too.
            if (CatalogShapes.ImageFields.Contains(property.Name) && value.ValueKind == JsonValueKind.String)
            {
                images.Add(ImageInspector.Inspect(property.Name, value));
            }
            else if (CatalogShapes.MaskListFields.Contains(property.Name) && value.ValueKind == JsonValueKind.Array)
            {
                // Past the most items any model takes the list is refused anyway; its surplus is never looked at.
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    if (index == CatalogShapes.MaxMaskItems)
                    {
                        break;
                    }

                    if (item.ValueKind == JsonValueKind.Object
                        && item.TryGetProperty(CatalogShapes.MaskProperty, out var mask)
                        && mask.ValueKind == JsonValueKind.String)
                    {
                        images.Add(ImageInspector.Inspect(
                            string.Create(CultureInfo.InvariantCulture, $"{property.Name}[{index}].{CatalogShapes.MaskProperty}"), mask));
                    }

                    index++;
                }
            }
        }

        Images = images;
        imagesByPath = new Dictionary<string, ImageValue>(images.Count, StringComparer.Ordinal);
        foreach (var image in images)
        {
            imagesByPath.TryAdd(image.Path, image);
        }
    }

    /// <summary>5 or 10 from a number (5, 5.0) or the string "5"/"10"; null otherwise.</summary>
    internal static int? ReadDuration(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number when value.TryGetDouble(out var d) && d is 5 or 10 => (int)d,
        JsonValueKind.String when value.ValueEquals("5") => 5,
        JsonValueKind.String when value.ValueEquals("10") => 10,
        _ => null,
    };

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

    /// <summary>Releases the pooled document and the body buffer, and the buffer's room in the budget.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        document?.Dispose();
        ReturnToPool(body);
        body = null;
    }
}
