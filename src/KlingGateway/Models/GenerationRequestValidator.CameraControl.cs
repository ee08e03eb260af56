using System.Globalization;
using System.Text.Json;

namespace KlingGateway.Models;

public sealed partial class GenerationRequestValidator
{
    /// <summary><c>camera_control</c>: its type and its config values.</summary>
    private sealed partial class Walk
    {
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

            if (type == ModelCatalog.SingleMoveCameraType)
            {
                if (config is null)
                {
                    Error(configPath, $"is required with type {ModelCatalog.SingleMoveCameraType}: give exactly one of {Join(keys)} a non-zero value {range}.");
                }
                else if (allValid && nonZero != 1)
                {
                    Error(configPath, string.Create(CultureInfo.InvariantCulture,
                        $"must have exactly one non-zero value with type {ModelCatalog.SingleMoveCameraType} (one of {Join(keys)}, {range}); it has {nonZero}."));
                }
            }
            else if (type is not null && given > 0)
            {
                Error(configPath, $"must be empty or left out with type {type}: config values are only for type {ModelCatalog.SingleMoveCameraType}.");
            }
        }
    }
}
