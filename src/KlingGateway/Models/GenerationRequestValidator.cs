using System.Globalization;
using System.Text.Json;
using FluentValidation;
using FluentValidation.Results;

namespace KlingGateway.Models;

/// <summary>
/// Checks a create body against the <see cref="ModelCatalog"/> entry of its model (CONTRACT.md, "Validation"):
/// one set of rules for every model, driven by each field's <see cref="FieldKind"/> and limits. Every fault is
/// reported, keyed by its JSON path as the caller wrote it (<c>dynamic_masks[1].trajectories[3].x</c>); fields the
/// model takes but ignores yield <see cref="Severity.Warning"/> failures carrying the catalog's message.
/// When the model is missing or unknown the other fields are checked against every model's fields, so the caller
/// sees all faults at once. Messages read "&lt;path&gt; &lt;what is wrong and what is allowed&gt;." and never echo
/// image data; a bad value is quoted to at most 40 characters.
/// </summary>
public sealed class GenerationRequestValidator : AbstractValidator<GenerationRequest>
{
    public GenerationRequestValidator()
    {
        RuleFor(request => request).Custom((request, context) =>
        {
            // A rejected body (not JSON, not an object, too large) is answered by the filter before validation.
            if (request.Rejection == RequestRejection.None)
            {
                new Walk(request, context).Run();
            }
        });
    }

    private sealed class Walk(GenerationRequest request, ValidationContext<GenerationRequest> context)
    {
        // Kling's camera type whose config carries exactly one movement (RESEARCH.md §10).
        private const string SimpleCamera = "simple";

        // Kling: a 5 s video's trajectory has 2 to 77 points (RESEARCH.md §10); part of the DynamicMasks shape.
        private const int MinTrajectoryPoints = 2;
        private const int MaxTrajectoryPoints = 77;

        /// <summary>Most faults listed in one answer.</summary>
        private const int MaxErrors = 100;

        private readonly ModelDefinition? model = request.Model;
        private int errors;
        private readonly IReadOnlyList<FieldSpec> fields = request.Model?.Fields ?? CatalogShapes.AllFields;

        public void Run()
        {
            var root = request.Root;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                var name = property.Name;
                if (!seen.Add(name))
                {
                    Error(name, "is given more than once; send each field once.");
                    continue;
                }

                var spec = Spec(name);
                if (spec is null)
                {
                    UnknownField(name);
                    continue;
                }

                if (!spec.AcceptedOn(request.Route))
                {
                    Error(name, $"is taken only on the {RouteList(spec.Routes!)}; it is not a field of this route.");
                    continue;
                }

                var value = property.Value;
                if (value.ValueKind == JsonValueKind.Null)
                {
                    // null means "not given": fine when optional, reported below when required.
                    continue;
                }

                if (name == "model")
                {
                    CheckModel(value);
                }
                else
                {
                    CheckValue(spec, name, value);
                }

                if (model is not null && spec.IgnoredWarning is { } warning)
                {
                    context.AddFailure(new ValidationFailure(name, warning) { Severity = Severity.Warning });
                }
            }

            foreach (var spec in fields)
            {
                if (spec.Required && spec.AcceptedOn(request.Route) && !Present(spec.Name))
                {
                    Error(spec.Name, spec.Name == "model"
                        ? $"is required: one of {Join(ModelCatalog.Ids)}."
                        : $"is required. {spec.Description}");
                }
            }

            if (model is not null)
            {
                CheckExclusiveGroups(model);
                CheckDurationLimits(model);
            }
        }

        private FieldSpec? Spec(string name)
        {
            foreach (var spec in fields)
            {
                if (spec.Name == name)
                {
                    return spec;
                }
            }

            return null;
        }

        private bool Present(string name) =>
            request.Root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

        private IEnumerable<string> AcceptedNames() =>
            fields.Where(f => f.AcceptedOn(request.Route)).Select(f => f.Name).Distinct();

        private void UnknownField(string name)
        {
            var taken = Join(AcceptedNames());
            if (model is not null && CatalogShapes.AllFields.FirstOrDefault(f => f.Name == name) is { } elsewhere)
            {
                var lacks = elsewhere.Noun is { } noun ? $": this model has no {noun}" : "";
                Error(name, $"is not taken by {model.Id}{lacks}. It takes: {taken}.");
                return;
            }

            var whose = model is null ? "The supported models take" : $"{model.Id} takes";
            Error(name, $"is not a known field{Suggest(name, AcceptedNames())}. {whose}: {taken}.");
        }

        private void CheckModel(JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.String)
            {
                Error("model", $"must be a string naming one of {Join(ModelCatalog.Ids)} (got {JsonKinds.Describe(value)}).");
            }
            else if (model is null)
            {
                Error("model", $"must be one of the supported models: {Join(ModelCatalog.Ids)} (got {Quote(value)}).");
            }
        }

        private void CheckValue(FieldSpec spec, string path, JsonElement value)
        {
            switch (spec.Kind)
            {
                case FieldKind.Text:
                    CheckText(spec, path, value);
                    break;
                case FieldKind.Enum:
                    CheckEnum(spec.AllowedValues ?? [], spec.IgnoreCase, path, value);
                    break;
                case FieldKind.Number:
                    CheckNumber(spec.Minimum, spec.Maximum, path, value);
                    break;
                case FieldKind.Duration:
                    CheckDuration(spec, path, value);
                    break;
                case FieldKind.Image:
                    CheckImage(spec.Image, path, value);
                    break;
                case FieldKind.DynamicMasks:
                    CheckDynamicMasks(spec, path, value);
                    break;
                case FieldKind.CameraControl:
                    CheckCameraControl(spec, path, value);
                    break;
            }
        }

        private void CheckText(FieldSpec spec, string path, JsonElement value)
        {
            var limit = spec.MaxLength is { } max
                ? string.Create(CultureInfo.InvariantCulture, $" of at most {max} characters")
                : "";
            if (value.ValueKind != JsonValueKind.String)
            {
                Error(path, $"must be a string{limit} (got {JsonKinds.Describe(value)}).");
                return;
            }

            if (spec.MaxLength is { } maxLength)
            {
                // Characters are user-perceived characters (text elements), so an emoji or an accented letter
                // counts once; UTF-16 length is an upper bound, checked first to skip the count for short text.
                var text = value.GetString()!;
                if (text.Length > maxLength && new StringInfo(text).LengthInTextElements is var count && count > maxLength)
                {
                    Error(path, string.Create(CultureInfo.InvariantCulture, $"must be at most {maxLength} characters; it has {count}."));
                }
            }
        }

        private void CheckEnum(IReadOnlyList<string> allowed, bool ignoreCase, string path, JsonElement value)
        {
            var anyCase = ignoreCase ? ", in any case" : "";
            if (value.ValueKind != JsonValueKind.String)
            {
                Error(path, $"must be one of {Join(allowed)}{anyCase} (got {JsonKinds.Describe(value)}).");
                return;
            }

            var text = value.GetString()!;
            var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            if (!allowed.Any(a => string.Equals(a, text, comparison)))
            {
                Error(path, $"must be one of {Join(allowed)}{anyCase} (got {Quote(value)}).");
            }
        }

        private bool CheckNumber(double? minimum, double? maximum, string path, JsonElement value)
        {
            var range = minimum is { } min && maximum is { } max
                ? string.Create(CultureInfo.InvariantCulture, $" between {min} and {max}")
                : "";
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number))
            {
                Error(path, $"must be a number{range} (got {JsonKinds.Describe(value)}).");
                return false;
            }

            if (number < minimum || number > maximum)
            {
                Error(path, $"must be a number{range} (got {Quote(value)}).");
                return false;
            }

            return true;
        }

        private void CheckDuration(FieldSpec spec, string path, JsonElement value)
        {
            var allowed = spec.AllowedValues ?? [];
            var ok = value.ValueKind switch
            {
                JsonValueKind.Number => value.TryGetDouble(out var d)
                    && allowed.Contains(d.ToString(CultureInfo.InvariantCulture)),
                JsonValueKind.String => allowed.Any(a => value.ValueEquals(a)),
                _ => false,
            };
            if (!ok)
            {
                var got = value.ValueKind is JsonValueKind.Number or JsonValueKind.String ? Quote(value) : JsonKinds.Describe(value);
                Error(path, $"must be {string.Join(" or ", allowed)}, as a number ({allowed.FirstOrDefault()}) or a string " +
                    $"(\"{allowed.FirstOrDefault()}\") (got {got}).");
            }
        }

        private void CheckImage(ImageRule? rule, string path, JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.String)
            {
                Error(path, $"{ImageInspector.NotAnImage} (got {JsonKinds.Describe(value)}).");
                return;
            }

            var image = request.Image(path);
            if (image is null)
            {
                return;
            }

            if (image.Fault is { } fault)
            {
                Error(path, fault);
                return;
            }

            if (image.Data is not { } data || rule is null)
            {
                return;
            }

            if (data.DecodedBytes > rule.MaxBytes)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must be at most {Megabytes(rule.MaxBytes)} ({rule.MaxBytes} bytes) of image data; this image is {data.DecodedBytes} bytes."));
            }

            if (data.Width < rule.MinSide || data.Height < rule.MinSide)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must be at least {rule.MinSide} px on each side; this image is {data.Width}×{data.Height}."));
            }

            // Width/height against [MinAspect, MaxAspect]; the tolerance only absorbs binary rounding of 1/2.5.
            var aspect = (double)data.Width / data.Height;
            if ((rule.MinAspect is { } low && aspect < low - 1e-9) || (rule.MaxAspect is { } high && aspect > high + 1e-9))
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must have an aspect ratio (width:height) between {Ratio(rule.MinAspect)} and {Ratio(rule.MaxAspect)}; " +
                    $"this image is {data.Width}×{data.Height}."));
            }
        }

        private void CheckDynamicMasks(FieldSpec spec, string path, JsonElement value)
        {
            var most = spec.MaxItems is { } max ? string.Create(CultureInfo.InvariantCulture, $" of at most {max}") : "";
            if (value.ValueKind != JsonValueKind.Array)
            {
                Error(path, $"must be an array{most} {{mask, trajectories}} objects (got {JsonKinds.Describe(value)}).");
                return;
            }

            var length = value.GetArrayLength();
            if (spec.MaxItems is { } maxItems && length > maxItems)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture, $"must have at most {maxItems} items; it has {length}."));
            }

            var index = 0;
            foreach (var item in value.EnumerateArray())
            {
                var itemPath = Index(path, index++);
                if (item.ValueKind != JsonValueKind.Object)
                {
                    Error(itemPath, $"must be an object {{mask, trajectories}} (got {JsonKinds.Describe(item)}).");
                    continue;
                }

                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in item.EnumerateObject())
                {
                    var propertyPath = $"{itemPath}.{property.Name}";
                    if (!seen.Add(property.Name))
                    {
                        Error(propertyPath, "is given more than once; send each field once.");
                    }
                    else if (property.Value.ValueKind == JsonValueKind.Null)
                    {
                        continue;
                    }
                    else if (property.Name == CatalogShapes.MaskProperty)
                    {
                        CheckImage(spec.Image, propertyPath, property.Value);
                    }
                    else if (property.Name == CatalogShapes.TrajectoriesProperty)
                    {
                        CheckTrajectories(propertyPath, property.Value);
                    }
                    else
                    {
                        Error(propertyPath, $"is not a known field{Suggest(property.Name, CatalogShapes.MaskItemProperties)}. " +
                            $"A dynamic mask takes: {Join(CatalogShapes.MaskItemProperties)}.");
                    }
                }

                foreach (var required in CatalogShapes.MaskItemProperties)
                {
                    if (!item.TryGetProperty(required, out var given) || given.ValueKind == JsonValueKind.Null)
                    {
                        Error($"{itemPath}.{required}", required == CatalogShapes.MaskProperty
                            ? $"is required: {ImageInspector.NotAnImage}."
                            : TrajectoryShape("is required: "));
                    }
                }
            }
        }

        private static string TrajectoryShape(string lead) => string.Create(CultureInfo.InvariantCulture,
            $"{lead}an array of {MinTrajectoryPoints} to {MaxTrajectoryPoints} {{x, y}} points with integer pixel coordinates.");

        private void CheckTrajectories(string path, JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.Array)
            {
                Error(path, TrajectoryShape("must be ")[..^1] + $" (got {JsonKinds.Describe(value)}).");
                return;
            }

            var length = value.GetArrayLength();
            if (length is < MinTrajectoryPoints or > MaxTrajectoryPoints)
            {
                Error(path, TrajectoryShape("must be ")[..^1] + string.Create(CultureInfo.InvariantCulture, $"; it has {length}."));
            }

            var index = 0;
            foreach (var point in value.EnumerateArray())
            {
                var pointPath = Index(path, index++);
                if (point.ValueKind != JsonValueKind.Object)
                {
                    Error(pointPath, $"must be an object {{x, y}} with integer pixel coordinates (got {JsonKinds.Describe(point)}).");
                    continue;
                }

                foreach (var property in point.EnumerateObject())
                {
                    if (property.Name is not ("x" or "y"))
                    {
                        Error($"{pointPath}.{property.Name}", "is not a known field. A trajectory point takes: x, y.");
                    }
                }

                foreach (var axis in (ReadOnlySpan<string>)["x", "y"])
                {
                    var axisPath = $"{pointPath}.{axis}";
                    if (!point.TryGetProperty(axis, out var coordinate) || coordinate.ValueKind == JsonValueKind.Null)
                    {
                        Error(axisPath, "is required: an integer pixel coordinate, from the bottom-left corner of image_url.");
                    }
                    else if (coordinate.ValueKind != JsonValueKind.Number
                        || !coordinate.TryGetDouble(out var number)
                        || number != Math.Floor(number)
                        || number is < int.MinValue or > int.MaxValue)
                    {
                        var got = coordinate.ValueKind == JsonValueKind.Number ? Quote(coordinate) : JsonKinds.Describe(coordinate);
                        Error(axisPath, $"must be an integer pixel coordinate (got {got}).");
                    }
                }
            }
        }

        private void CheckCameraControl(FieldSpec spec, string path, JsonElement value)
        {
            var types = spec.AllowedValues ?? [];
            if (value.ValueKind != JsonValueKind.Object)
            {
                Error(path, $"must be an object {{type, config}} with type one of {Join(types)} (got {JsonKinds.Describe(value)}).");
                return;
            }

            string? type = null;
            JsonElement? config = null;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in value.EnumerateObject())
            {
                var propertyPath = $"{path}.{property.Name}";
                if (!seen.Add(property.Name))
                {
                    Error(propertyPath, "is given more than once; send each field once.");
                    continue;
                }

                if (property.Value.ValueKind == JsonValueKind.Null && property.Name is "type" or "config")
                {
                    continue;
                }

                switch (property.Name)
                {
                    case "type":
                        CheckEnum(types, false, propertyPath, property.Value);
                        if (property.Value.ValueKind == JsonValueKind.String && types.Contains(property.Value.GetString()!))
                        {
                            type = property.Value.GetString();
                        }

                        break;
                    case "config":
                        config = property.Value;
                        break;
                    default:
                        Error(propertyPath, $"is not a known field{Suggest(property.Name, ["type", "config"])}. camera_control takes: type, config.");
                        break;
                }
            }

            if (!seen.Contains("type") || value.GetProperty("type").ValueKind == JsonValueKind.Null)
            {
                Error($"{path}.type", $"is required: one of {Join(types)}.");
            }

            var configPath = $"{path}.config";
            var keys = ModelCatalog.CameraConfigKeys;
            var range = string.Create(CultureInfo.InvariantCulture, $"between {spec.Minimum} and {spec.Maximum}");
            var given = 0;
            var nonZero = 0;
            var allValid = true;
            if (config is { } configValue)
            {
                if (configValue.ValueKind != JsonValueKind.Object)
                {
                    Error(configPath, $"must be an object with any of {Join(keys)}, each a number {range} (got {JsonKinds.Describe(configValue)}).");
                    return;
                }

                var seenKeys = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in configValue.EnumerateObject())
                {
                    var keyPath = $"{configPath}.{property.Name}";
                    if (!seenKeys.Add(property.Name))
                    {
                        Error(keyPath, "is given more than once; send each field once.");
                        allValid = false;
                    }
                    else if (!keys.Contains(property.Name))
                    {
                        Error(keyPath, $"is not a known field{Suggest(property.Name, keys)}. camera_control.config takes: {Join(keys)}.");
                        allValid = false;
                    }
                    else if (property.Value.ValueKind != JsonValueKind.Null)
                    {
                        given++;
                        if (CheckNumber(spec.Minimum, spec.Maximum, keyPath, property.Value))
                        {
                            nonZero += property.Value.GetDouble() != 0 ? 1 : 0;
                        }
                        else
                        {
                            allValid = false;
                        }
                    }
                }
            }

            if (type == SimpleCamera)
            {
                if (config is null)
                {
                    Error(configPath, $"is required with type {SimpleCamera}: give exactly one of {Join(keys)} a non-zero value {range}.");
                }
                else if (allValid && nonZero != 1)
                {
                    Error(configPath, string.Create(CultureInfo.InvariantCulture,
                        $"must have exactly one non-zero value with type {SimpleCamera} (one of {Join(keys)}, {range}); it has {nonZero}."));
                }
            }
            else if (type is not null && given > 0)
            {
                Error(configPath, $"must be empty or left out with type {type}: config values are only for type {SimpleCamera}.");
            }
        }

        private void CheckExclusiveGroups(ModelDefinition definition)
        {
            List<string>? first = null;
            foreach (var group in definition.ExclusiveGroups)
            {
                var present = group.Where(f => Present(f) && Spec(f) is { } s && s.AcceptedOn(request.Route)).ToList();
                if (present.Count == 0)
                {
                    continue;
                }

                if (first is null)
                {
                    first = present;
                    continue;
                }

                var choices = string.Join("; ", definition.ExclusiveGroups.Select(g => string.Join(" or ", g)));
                foreach (var field in present)
                {
                    Error(field, $"cannot be combined with {string.Join(" and ", first)}: {definition.Id} takes only one of: {choices}.");
                }
            }
        }

        private void CheckDurationLimits(ModelDefinition definition)
        {
            if (request.Duration is not { } duration)
            {
                return;
            }

            foreach (var limit in definition.DurationLimits)
            {
                if (limit.AllowedDurations.Contains(duration))
                {
                    continue;
                }

                var present = limit.Fields.Where(Present).ToList();
                if (present.Count > 0)
                {
                    var allowed = string.Join(" or ", limit.AllowedDurations);
                    Error("duration", string.Create(CultureInfo.InvariantCulture,
                        $"must be {allowed} when {string.Join(" and ", present)} {(present.Count == 1 ? "is" : "are")} given: " +
                        $"{definition.Id} takes {string.Join(", ", limit.Fields)} only at {allowed} s (got {duration})."));
                }
            }
        }

        private void Error(string path, string message)
        {
            // A hostile body can hold a million bad fields; the answer stays small and names what was cut.
            errors++;
            if (errors <= MaxErrors)
            {
                context.AddFailure(new ValidationFailure(path, $"{path} {message}"));
            }
            else if (errors == MaxErrors + 1)
            {
                context.AddFailure(new ValidationFailure("$",
                    string.Create(CultureInfo.InvariantCulture, $"$ has more than {MaxErrors} faults; only the first {MaxErrors} are listed.")));
            }
        }

        private static string Index(string path, int index) =>
            string.Create(CultureInfo.InvariantCulture, $"{path}[{index}]");

        private static string RouteList(IReadOnlyList<CreateRoute> routes) =>
            string.Join(" and ", routes.Select(r => r switch
            {
                CreateRoute.Legacy => "legacy route (POST /v2/generate/video/kling/generation)",
                CreateRoute.Universal => "universal route (POST /v2/video/generations)",
                _ => "gateway route (POST /v1/generations)",
            }));

        private static string Megabytes(long bytes) => bytes % (1024 * 1024) == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024 * 1024)} MB")
            : string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");

        private static string Ratio(double? aspect) => aspect switch
        {
            null => "any",
            >= 1 => string.Create(CultureInfo.InvariantCulture, $"{aspect.Value:0.###}:1"),
            _ => string.Create(CultureInfo.InvariantCulture, $"1:{1 / aspect.Value:0.###}"),
        };
    }

    /// <summary>Comma-separated list, as messages show allowed values and fields.</summary>
    internal static string Join(IEnumerable<string> values) => string.Join(", ", values);

    /// <summary>At most 40 characters of a bad value, in double quotes for strings.</summary>
    internal static string Quote(JsonElement value)
    {
        const int Limit = 40;
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        if (text.Length > Limit)
        {
            text = text[..Limit] + "…";
        }

        return value.ValueKind == JsonValueKind.String ? $"\"{text}\"" : text;
    }

    /// <summary>" (did you mean x?)" for a near miss: one name a prefix of the other, or at most two edits apart.</summary>
    internal static string Suggest(string name, IEnumerable<string> candidates)
    {
        if (name.Length > 64)
        {
            return "";
        }

        foreach (var candidate in candidates)
        {
            if ((name.Length >= 3 && candidate.StartsWith(name, StringComparison.OrdinalIgnoreCase))
                || (candidate.Length >= 3 && name.StartsWith(candidate, StringComparison.OrdinalIgnoreCase))
                || EditDistance(name.ToLowerInvariant(), candidate) <= Math.Min(2, candidate.Length / 3))
            {
                return $" (did you mean {candidate}?)";
            }
        }

        return "";
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}

/// <summary>Where the catalog puts fields, across every model: read by parsing and validation alike.</summary>
internal static class CatalogShapes
{
    /// <summary>The image inside each <see cref="FieldKind.DynamicMasks"/> item.</summary>
    public const string MaskProperty = "mask";

    /// <summary>The point list inside each <see cref="FieldKind.DynamicMasks"/> item.</summary>
    public const string TrajectoriesProperty = "trajectories";

    public static readonly IReadOnlyList<string> MaskItemProperties = [MaskProperty, TrajectoriesProperty];

    /// <summary>Every field any model takes, first definition of each name: the rules used when the model is unknown.</summary>
    public static readonly IReadOnlyList<FieldSpec> AllFields =
        [.. ModelCatalog.All.SelectMany(m => m.Fields).DistinctBy(f => f.Name)];

    public static readonly HashSet<string> ImageFields =
        [.. AllFields.Where(f => f.Kind == FieldKind.Image).Select(f => f.Name)];

    public static readonly HashSet<string> MaskListFields =
        [.. AllFields.Where(f => f.Kind == FieldKind.DynamicMasks).Select(f => f.Name)];
}

/// <summary>Names JSON value kinds for messages ("got a string").</summary>
internal static class JsonKinds
{
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
