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

    /// <summary>The most mask items any model takes: no more are ever read from a body.</summary>
    public static readonly int MaxMaskItems =
        ModelCatalog.All.SelectMany(m => m.Fields).Where(f => f.Kind == FieldKind.DynamicMasks).Max(f => f.MaxItems ?? 0);
}
