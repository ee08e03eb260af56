using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using KlingGateway.Generations;

namespace KlingGateway.Models;

/// <summary>
/// A create-generation body as the caller sent it, read once and kept as a pooled <see cref="JsonDocument"/>
/// so it can be forwarded as is. Binding never fails for bad input: it records a <see cref="Rejection"/>,
/// and <see cref="Creates.ValidationFilter"/> turns that, or the validator's findings, into a problem answer.
/// Image fields are inspected while parsing (<see cref="ImageInspector"/>): only their hashes and headers are kept.
/// </summary>
public sealed partial class GenerationRequest : IDisposable
{
    /// <summary>
    /// Largest body accepted: a full-size first and last frame (2 × 10 MB as base64, about 27 MB) with room for
    /// the other fields. Masks add more; Kling takes masks or a tail frame, not both (docs/upstream.md, "Validation").
    /// </summary>
    /// <remarks>The default of <c>Gateway:MaxRequestBodyBytes</c>.</remarks>
    public const long MaxBodyBytes = 48L * 1024 * 1024;

    private const int MaxModelIdBytes = 256;

    private readonly JsonDocument? document;
    private BodyBuffer? body;
    private bool disposed;

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

    /// <summary>The body object as sent (valid while <see cref="Rejection"/> is None and the request is not disposed).</summary>
    public JsonElement Root { get; }

    /// <summary>The body's bytes as sent (valid until the request is disposed), for forwarding without a second copy.</summary>
    public ReadOnlyMemory<byte> Utf8Json { get; }

    /// <summary>The <c>model</c> value when it is a string.</summary>
    public string? ModelId { get; private set; }

    /// <summary>The catalog entry for <see cref="ModelId"/>; null when missing or unknown.</summary>
    public ModelDefinition? Model { get; private set; }

    /// <summary>
    /// Fields the model takes on this route but ignores, given a value: each with the catalog's warning, in body order.
    /// Read from the body with the model's rules when it is parsed; the validator reports them, and a create keeps them.
    /// </summary>
    public IReadOnlyList<GenerationWarning> Warnings { get; private set; } = [];

    /// <summary>One of the catalog's durations when <c>duration</c> is a valid number or string.</summary>
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
        Warnings = Model is { } model ? IgnoredFields(model) : [];
        imagesByPath = new Dictionary<string, ImageValue>(images.Count, StringComparer.Ordinal);
        foreach (var image in images)
        {
            imagesByPath.TryAdd(image.Path, image);
        }
    }

    /// <summary>A duration any model takes, from a number (5, 5.0) or its string ("5"); null otherwise.</summary>
    internal static int? ReadDuration(JsonElement value)
    {
        foreach (var (seconds, text) in CatalogShapes.Durations)
        {
            var matches = value.ValueKind switch
            {
                JsonValueKind.Number => value.TryGetDouble(out var number) && number == seconds,
                JsonValueKind.String => value.ValueEquals(text),
                _ => false,
            };
            if (matches)
            {
                return seconds;
            }
        }

        return null;
    }

    /// <summary>The fields of <paramref name="model"/> this body gives a value that the model ignores, once each.</summary>
    private List<GenerationWarning> IgnoredFields(ModelDefinition model)
    {
        var warnings = new List<GenerationWarning>();
        foreach (var property in Root.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            // Compared in place: a body's property name can be megabytes, and is never copied for this.
            foreach (var spec in model.Fields)
            {
                if (spec.IgnoredWarning is { } warning && spec.AcceptedOn(Route) && property.NameEquals(spec.Name)
                    && !warnings.Exists(w => w.Field == spec.Name))
                {
                    warnings.Add(new GenerationWarning(spec.Name, warning));
                }
            }
        }

        return warnings;
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
