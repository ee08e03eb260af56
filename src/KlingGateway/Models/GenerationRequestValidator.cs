using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
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

        /// <summary>Longest text whose characters are counted (see <see cref="TextElements"/>).</summary>
        private const int MaxCountedTextBytes = 256 * 1024;

        /// <summary>Most faults listed in one answer. Past it the walk stops: what a body can cost is bounded by this.</summary>
        private const int MaxErrors = 100;

        private readonly ModelDefinition? model = request.Model;
        private int errors;
        private readonly IReadOnlyList<FieldSpec> fields = request.Model?.Fields ?? CatalogShapes.AllFields;

        // Catalog fields given a value other than null, recorded as the walk passes them.
        private readonly HashSet<string> present = new(StringComparer.Ordinal);

        /// <summary>More faults than an answer lists: nothing more is walked.</summary>
        private bool Full => errors > MaxErrors;

        public void Run()
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in request.Root.EnumerateObject())
            {
                if (Full)
                {
                    return;
                }

                var name = PathName(property);
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

                var value = property.Value;
                if (value.ValueKind != JsonValueKind.Null)
                {
                    present.Add(name);
                }

                if (!spec.AcceptedOn(request.Route))
                {
                    Error(name, $"is taken only on the {RouteList(spec.Routes!)}; it is not a field of this route.");
                    continue;
                }

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

            if (Full)
            {
                return;
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

        private bool Present(string name) => present.Contains(name);

        private IReadOnlyList<string> AcceptedNames() =>
            acceptedNames ??= [.. fields.Where(f => f.AcceptedOn(request.Route)).Select(f => f.Name).Distinct()];

        private IReadOnlyList<string>? acceptedNames;
        private string? taken;

        private void UnknownField(string name)
        {
            taken ??= Join(AcceptedNames());
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

            if (spec.Printable && FirstControl(value.GetString()!) is { } control)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must not hold control characters; it holds U+{(int)control.Character:X4} at character {control.Index + 1}."));
            }

            if (spec.MaxLength is { } maxLength && TextElements(value, maxLength) is var count && (count > maxLength || count < 0))
            {
                Error(path, count > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"must be at most {maxLength} characters; it has {count}.")
                    : string.Create(CultureInfo.InvariantCulture,
                        $"must be at most {maxLength} characters; it is {JsonMarshal.GetRawUtf8Value(value).Length - 2} bytes, far more than that."));
            }
        }

        private static (int Index, char Character)? FirstControl(string text)
        {
            for (var i = 0; i < text.Length; i++)
            {
                if (char.IsControl(text[i]))
                {
                    return (i, text[i]);
                }
            }

            return null;
        }

        /// <summary>
        /// Characters as users perceive them (text elements), so an emoji or an accented letter counts once. The raw
        /// byte length is an upper bound of the UTF-16 length, checked first to skip the count for short text. Text of
        /// more than <see cref="MaxCountedTextBytes"/> is not counted: no text of a few thousand characters, even one
        /// heavy with combining marks, comes near it, so it is over the limit (answered as its byte length).
        /// </summary>
        private static int TextElements(JsonElement value, int atMost)
        {
            var raw = JsonMarshal.GetRawUtf8Value(value);
            if (raw.Length - 2 <= atMost)
            {
                return 0;
            }

            if (raw.Length > MaxCountedTextBytes)
            {
                return -1;
            }

            var buffer = System.Buffers.ArrayPool<char>.Shared.Rent(raw.Length);
            try
            {
                var reader = new Utf8JsonReader(raw);
                reader.Read();
                ReadOnlySpan<char> text = buffer.AsSpan(0, reader.CopyString(buffer));
                var count = 0;
                while (!text.IsEmpty)
                {
                    text = text[StringInfo.GetNextTextElementLength(text)..];
                    count++;
                }

                return count;
            }
            finally
            {
                System.Buffers.ArrayPool<char>.Shared.Return(buffer);
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

            if (data.Width > rule.MaxSide || data.Height > rule.MaxSide)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must be at most {rule.MaxSide} px on each side; this image is {data.Width}×{data.Height}."));
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

            // Past what the rules allow, one fault says how many were sent and the surplus is not walked.
            var length = value.GetArrayLength();
            var walked = Math.Min(length, spec.MaxItems ?? CatalogShapes.MaxMaskItems);
            if (spec.MaxItems is { } maxItems && length > maxItems)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture, $"must have at most {maxItems} items; it has {length}."));
            }

            var index = 0;
            foreach (var item in value.EnumerateArray())
            {
                if (index == walked || Full)
                {
                    return;
                }

                var itemPath = Index(path, index++);
                if (item.ValueKind != JsonValueKind.Object)
                {
                    Error(itemPath, $"must be an object {{mask, trajectories}} (got {JsonKinds.Describe(item)}).");
                    continue;
                }

                var (seenMask, seenTrajectories, givenMask, givenTrajectories) = (false, false, false, false);
                foreach (var property in item.EnumerateObject())
                {
                    if (Full)
                    {
                        return;
                    }

                    var isMask = property.NameEquals(CatalogShapes.MaskProperty);
                    var isTrajectories = !isMask && property.NameEquals(CatalogShapes.TrajectoriesProperty);
                    var propertyPath = $"{itemPath}.{PathName(property)}";
                    if ((isMask && seenMask) || (isTrajectories && seenTrajectories))
                    {
                        Error(propertyPath, "is given more than once; send each field once.");
                        continue;
                    }

                    seenMask |= isMask;
                    seenTrajectories |= isTrajectories;
                    if (property.Value.ValueKind == JsonValueKind.Null)
                    {
                        continue;
                    }

                    if (isMask)
                    {
                        givenMask = true;
                        CheckImage(spec.Image, propertyPath, property.Value);
                    }
                    else if (isTrajectories)
                    {
                        givenTrajectories = true;
                        CheckTrajectories(propertyPath, property.Value);
                    }
                    else
                    {
                        Error(propertyPath, $"is not a known field{Suggest(PathName(property), CatalogShapes.MaskItemProperties)}. " +
                            $"A dynamic mask takes: {Join(CatalogShapes.MaskItemProperties)}.");
                    }
                }

                if (!givenMask)
                {
                    Error($"{itemPath}.{CatalogShapes.MaskProperty}", $"is required: {ImageInspector.NotAnImage}.");
                }

                if (!givenTrajectories)
                {
                    Error($"{itemPath}.{CatalogShapes.TrajectoriesProperty}", TrajectoryShape("is required: "));
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
                if (index == MaxTrajectoryPoints || Full)
                {
                    return;
                }

                var pointPath = Index(path, index++);
                if (point.ValueKind != JsonValueKind.Object)
                {
                    Error(pointPath, $"must be an object {{x, y}} with integer pixel coordinates (got {JsonKinds.Describe(point)}).");
                    continue;
                }

                JsonElement? x = null, y = null;
                foreach (var property in point.EnumerateObject())
                {
                    if (Full)
                    {
                        return;
                    }

                    var isX = property.NameEquals("x");
                    if (isX || property.NameEquals("y"))
                    {
                        if ((isX ? x : y) is not null)
                        {
                            Error($"{pointPath}.{(isX ? "x" : "y")}", "is given more than once; send each field once.");
                        }
                        else if (isX)
                        {
                            x = property.Value;
                        }
                        else
                        {
                            y = property.Value;
                        }
                    }
                    else
                    {
                        Error($"{pointPath}.{PathName(property)}", "is not a known field. A trajectory point takes: x, y.");
                    }
                }

                CheckCoordinate($"{pointPath}.x", x);
                CheckCoordinate($"{pointPath}.y", y);
            }
        }

        private void CheckCoordinate(string path, JsonElement? value)
        {
            if (value is not { ValueKind: not JsonValueKind.Null } coordinate)
            {
                Error(path, "is required: an integer pixel coordinate, from the bottom-left corner of image_url.");
            }
            else if (coordinate.ValueKind != JsonValueKind.Number
                || !coordinate.TryGetDouble(out var number)
                || number != Math.Floor(number)
                || number is < int.MinValue or > int.MaxValue)
            {
                var got = coordinate.ValueKind == JsonValueKind.Number ? Quote(coordinate) : JsonKinds.Describe(coordinate);
                Error(path, $"must be an integer pixel coordinate (got {got}).");
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
            var (seenType, seenConfig, givenType) = (false, false, false);
            foreach (var property in value.EnumerateObject())
            {
                if (Full)
                {
                    return;
                }

                var isType = property.NameEquals("type");
                var isConfig = !isType && property.NameEquals("config");
                var propertyPath = $"{path}.{PathName(property)}";
                if ((isType && seenType) || (isConfig && seenConfig))
                {
                    Error(propertyPath, "is given more than once; send each field once.");
                    continue;
                }

                seenType |= isType;
                seenConfig |= isConfig;
                if (property.Value.ValueKind == JsonValueKind.Null && (isType || isConfig))
                {
                    continue;
                }

                if (isType)
                {
                    givenType = true;
                    CheckEnum(types, false, propertyPath, property.Value);
                    if (property.Value.ValueKind == JsonValueKind.String && types.Contains(property.Value.GetString()!))
                    {
                        type = property.Value.GetString();
                    }
                }
                else if (isConfig)
                {
                    config = property.Value;
                }
                else
                {
                    Error(propertyPath, $"is not a known field{Suggest(PathName(property), ["type", "config"])}. camera_control takes: type, config.");
                }
            }

            if (!givenType)
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

                var seenKeys = 0;
                foreach (var property in configValue.EnumerateObject())
                {
                    if (Full)
                    {
                        return;
                    }

                    var name = PathName(property);
                    var keyPath = $"{configPath}.{name}";
                    var key = IndexOf(keys, property);
                    if (key < 0)
                    {
                        Error(keyPath, $"is not a known field{Suggest(name, keys)}. camera_control.config takes: {Join(keys)}.");
                        allValid = false;
                    }
                    else if ((seenKeys & (1 << key)) != 0)
                    {
                        Error(keyPath, "is given more than once; send each field once.");
                        allValid = false;
                    }
                    else if (property.Value.ValueKind != JsonValueKind.Null)
                    {
                        seenKeys |= 1 << key;
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
                    else
                    {
                        seenKeys |= 1 << key;
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
                    string.Create(CultureInfo.InvariantCulture, $"$ has more than {MaxErrors} faults; only the first {MaxErrors} are listed, and the rest of the body was not checked.")));
            }
        }

        private static string Index(string path, int index) =>
            string.Create(CultureInfo.InvariantCulture, $"{path}[{index}]");

        /// <summary>
        /// A property's name for a path: as sent, except that a name longer than any field's is cut (a body may hold a
        /// name of megabytes; the answer and the log do not repeat it).
        /// </summary>
        private static string PathName(JsonProperty property)
        {
            var raw = JsonMarshal.GetRawUtf8PropertyName(property);
            return raw.Length <= JsonText.MaxNameInPath ? property.Name : JsonText.DisplayName(raw);
        }

        private static int IndexOf(IReadOnlyList<string> names, JsonProperty property)
        {
            for (var i = 0; i < names.Count; i++)
            {
                if (property.NameEquals(names[i]))
                {
                    return i;
                }
            }

            return -1;
        }

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

    /// <summary>At most 40 characters of a bad value, in double quotes for strings; only its start is read.</summary>
    internal static string Quote(JsonElement value)
    {
        const int Limit = 40;
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (value.ValueKind == JsonValueKind.String)
        {
            // Escapes take at most 6 bytes a character, so the first 240 bytes of the raw text hold the first 40.
            raw = raw[1..^1];
            var end = WholePrefix(raw, Limit * 6);
            Span<byte> quoted = stackalloc byte[end + 2];
            quoted[0] = (byte)'"';
            raw[..end].CopyTo(quoted[1..]);
            quoted[^1] = (byte)'"';
            var reader = new Utf8JsonReader(quoted);
            reader.Read();
            var text = reader.GetString()!;
            return text.Length > Limit || end < raw.Length ? $"\"{text[..Math.Min(text.Length, Limit)]}…\"" : $"\"{text}\"";
        }

        var written = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, Limit)]);
        return raw.Length > Limit ? written + "…" : written;
    }

    /// <summary>
    /// The length of the longest start of a JSON string's raw text, at least <paramref name="wanted"/> bytes when there
    /// are that many, that ends on a whole character: no escape (a surrogate pair's two included) or UTF-8 sequence cut.
    /// </summary>
    private static int WholePrefix(ReadOnlySpan<byte> raw, int wanted)
    {
        var i = 0;
        while (i < raw.Length && i < wanted)
        {
            if (raw[i] == (byte)'\\')
            {
                var pair = raw[i + 1] == (byte)'u' && raw.Length >= i + 12 && raw[i + 2] is (byte)'d' or (byte)'D'
                    && raw[i + 3] is (byte)'8' or (byte)'9' or (byte)'a' or (byte)'A' or (byte)'b' or (byte)'B';
                i += raw[i + 1] != (byte)'u' ? 2 : pair ? 12 : 6;
            }
            else if (raw[i] < 0x80)
            {
                i++;
            }
            else
            {
                System.Text.Rune.DecodeFromUtf8(raw[i..], out _, out var consumed);
                i += consumed;
            }
        }

        return Math.Min(i, raw.Length);
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

    /// <summary>The most mask items any model takes: no more are ever read from a body.</summary>
    public static readonly int MaxMaskItems =
        ModelCatalog.All.SelectMany(m => m.Fields).Where(f => f.Kind == FieldKind.DynamicMasks).Max(f => f.MaxItems ?? 0);
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
