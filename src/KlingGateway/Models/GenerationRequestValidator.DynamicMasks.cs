using System.Globalization;
using System.Text.Json;

namespace KlingGateway.Models;

public sealed partial class GenerationRequestValidator
{
    /// <summary><c>dynamic_masks</c>: its items, each item's mask and trajectories, and each point's coordinates.</summary>
    private sealed partial class Walk
    {
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
                        CheckTrajectories(Trajectory(spec), propertyPath, property.Value);
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
                    Error($"{itemPath}.{CatalogShapes.TrajectoriesProperty}", TrajectoryShape(Trajectory(spec), "is required: "));
                }
            }
        }

        /// <summary>The field's points per trajectory; the catalog's when a field names none.</summary>
        private static TrajectoryRule Trajectory(FieldSpec spec) => spec.Trajectory ?? ModelCatalog.Trajectory;

        private static string TrajectoryShape(TrajectoryRule rule, string lead) => string.Create(CultureInfo.InvariantCulture,
            $"{lead}an array of {rule.MinPoints} to {rule.MaxPoints} {{x, y}} points with integer pixel coordinates.");

        private void CheckTrajectories(TrajectoryRule rule, string path, JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.Array)
            {
                Error(path, TrajectoryShape(rule, "must be ")[..^1] + $" (got {JsonKinds.Describe(value)}).");
                return;
            }

            var length = value.GetArrayLength();
            if (length < rule.MinPoints || length > rule.MaxPoints)
            {
                Error(path, TrajectoryShape(rule, "must be ")[..^1] + string.Create(CultureInfo.InvariantCulture, $"; it has {length}."));
            }

            var index = 0;
            foreach (var point in value.EnumerateArray())
            {
                if (index == rule.MaxPoints || Full)
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
    }
}
