namespace KlingGateway.Models;

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

    /// <summary>
    /// Fields taken on the legacy route but not the universal one (<c>type</c>, <c>external_task_id</c>): left out of a
    /// body forwarded to the universal family.
    /// </summary>
    public static readonly HashSet<string> LegacyFamilyOnlyFields =
        [.. AllFields.Where(f => f.AcceptedOn(CreateRoute.Legacy) && !f.AcceptedOn(CreateRoute.Universal)).Select(f => f.Name)];

    /// <summary>Every duration any model takes, in seconds and as the string a body may send instead.</summary>
    public static readonly IReadOnlyList<(int Seconds, string Text)> Durations =
    [
        .. AllFields.Where(f => f.Kind == FieldKind.Duration)
            .SelectMany(f => f.AllowedValues ?? [])
            .Distinct(StringComparer.Ordinal)
            .Select(text => (int.Parse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture), text)),
    ];

    /// <summary>The most mask items any model takes: no more are ever read from a body.</summary>
    public static readonly int MaxMaskItems =
        ModelCatalog.All.SelectMany(m => m.Fields).Where(f => f.Kind == FieldKind.DynamicMasks).Max(f => f.MaxItems ?? 0);
}
