using System.Globalization;

namespace KlingGateway.Models;

/// <summary>
/// The five Kling image-to-video models the gateway fronts, as data, with every rule a request is held to. Validation,
/// the <c>/v1/models</c> catalog, the OpenAPI schemas and the forwarded body all read this one table, so adding a model
/// or changing a limit is changing an entry here. The rules are Kling's own, as docs/upstream.md records them
/// ("Models", "Validation").
/// </summary>
public static class ModelCatalog
{
    /// <summary>Largest decoded image, in MB (docs/upstream.md, "Validation").</summary>
    private const int ImageMegabytes = 10;

    /// <summary>Shortest side of an image, in pixels.</summary>
    private const int ImageMinSide = 300;

    /// <summary>The first frame's widest aspect ratio either way: 1:2.5 to 2.5:1.</summary>
    private const double FirstFrameAspect = 2.5;

    /// <summary>
    /// Kling's documented input-image limits (docs/upstream.md, "Validation": ≤ 10 MB, ≥ 300 px, 1:2.5 .. 2.5:1), and
    /// the gateway's own largest side.
    /// </summary>
    public static readonly ImageRule FirstFrame = new(
        MaxBytes: ImageMegabytes * 1024 * 1024, MinSide: ImageMinSide, MaxSide: ImageRule.LargestSide,
        MinAspect: 1 / FirstFrameAspect, MaxAspect: FirstFrameAspect);

    /// <summary>Tail frames and masks share the size limits; Kling does not repeat the aspect rule for them.</summary>
    public static readonly ImageRule OtherImage = new(
        MaxBytes: ImageMegabytes * 1024 * 1024, MinSide: ImageMinSide, MaxSide: ImageRule.LargestSide, MinAspect: null, MaxAspect: null);

    /// <summary>The camera type whose config carries exactly one non-zero movement; every other type takes none.</summary>
    public const string SingleMoveCameraType = "simple";

    public static readonly IReadOnlyList<string> CameraTypes =
        [SingleMoveCameraType, "down_back", "forward_up", "right_turn_forward", "left_turn_forward"];

    public static readonly IReadOnlyList<string> CameraConfigKeys =
        ["horizontal", "vertical", "pan", "tilt", "roll", "zoom"];

    /// <summary>Each camera config value lies in [-CameraRange, CameraRange].</summary>
    private const int CameraRange = 10;

    public static readonly IReadOnlyList<string> Providers = ["auto", "kling", "klingai", "fal"];

    /// <summary>Video lengths in seconds, and the upstream's default when a body leaves <c>duration</c> out.</summary>
    private static readonly int[] Durations = [5, 10];

    private const int DefaultDuration = 5;

    /// <summary>Longest <c>prompt</c> and <c>negative_prompt</c>, in characters.</summary>
    private const int MaxPromptLength = 2500;

    /// <summary>Most <c>{mask, trajectories}</c> groups in <c>dynamic_masks</c>.</summary>
    private const int MaxMaskGroups = 6;

    /// <summary>Kling: a 5 s video's trajectory has 2 to 77 points (docs/upstream.md, "Validation").</summary>
    public static readonly TrajectoryRule Trajectory = new(MinPoints: 2, MaxPoints: 77);

    private const string V2IgnoresWarning = "Kling v2 models ignore this field; the upstream accepts it but the video will not reflect it.";

    private static FieldSpec Model(string id) => new(
        "model", FieldKind.Enum, "The model id.", Required: true, AllowedValues: [id]);

    private static readonly FieldSpec ImageUrl = new(
        "image_url", FieldKind.Image,
        "The first frame: an absolute http(s) URL, or base64 JPEG/PNG data (bare or as a data:image/png|jpeg;base64, URI). " +
        Invariant($"{SizeLimits(FirstFrame)}, aspect ratio between 1:{FirstFrameAspect} and {FirstFrameAspect}:1."),
        Required: true, Image: FirstFrame);

    private static readonly FieldSpec Prompt = new(
        "prompt", FieldKind.Text, "What the video should show.", MaxLength: MaxPromptLength);

    private static readonly FieldSpec NegativePrompt = new(
        "negative_prompt", FieldKind.Text, "What the video should avoid.", MaxLength: MaxPromptLength);

    private static readonly FieldSpec Duration = new(
        "duration", FieldKind.Duration, $"Video length in seconds: {string.Join(" or ", Durations)}, as a number or a string.",
        AllowedValues: [.. Durations.Select(d => d.ToString(CultureInfo.InvariantCulture))],
        Default: DefaultDuration.ToString(CultureInfo.InvariantCulture));

    private static FieldSpec CfgScale(string? warning) => new(
        "cfg_scale", FieldKind.Number, "How closely the video follows the prompt, 0 to 1.",
        Minimum: 0, Maximum: 1, IgnoredWarning: warning);

    private static readonly FieldSpec TailImageUrl = new(
        "tail_image_url", FieldKind.Image,
        $"The last frame: an absolute http(s) URL or base64 JPEG/PNG data. {SizeLimits(OtherImage)}.",
        Image: OtherImage, Noun: "tail frame");

    private static FieldSpec StaticMask(string? warning) => new(
        "static_mask", FieldKind.Image,
        "Mask of the area painted with the static brush: an absolute http(s) URL or base64 JPEG/PNG data.",
        Image: OtherImage, IgnoredWarning: warning);

    private static FieldSpec DynamicMasks(string? warning) => new(
        "dynamic_masks", FieldKind.DynamicMasks,
        Invariant($"Up to {MaxMaskGroups} {{mask, trajectories}} groups; each trajectory has {Trajectory.MinPoints} to {Trajectory.MaxPoints} integer {{x, y}} points."),
        MaxItems: MaxMaskGroups, Image: OtherImage, Trajectory: Trajectory, IgnoredWarning: warning);

    private static FieldSpec CameraControl(string? warning) => new(
        "camera_control", FieldKind.CameraControl,
        Invariant($"Camera movement: type {string.Join("|", CameraTypes)}. With {SingleMoveCameraType}, exactly one of ") +
        Invariant($"config.{string.Join("|", CameraConfigKeys)} is non-zero (each {-CameraRange}..{CameraRange}); with any other type, no config values."),
        AllowedValues: CameraTypes, Minimum: -CameraRange, Maximum: CameraRange, IgnoredWarning: warning);

    private static readonly FieldSpec Provider = new(
        "provider", FieldKind.Enum,
        "Upstream routing: auto (Kling, falling back to fal.ai), kling or klingai (Kling only), fal (fal.ai). Any case.",
        AllowedValues: Providers, IgnoreCase: true, Default: "auto", Noun: "provider choice");

    /// <summary>Taken only on the legacy-compatible route (docs/upstream.md, "Routes").</summary>
    private static readonly FieldSpec Type = new(
        "type", FieldKind.Enum, "Legacy route only: the generation type.",
        AllowedValues: ["image-to-video"], Routes: [CreateRoute.Legacy]);

    private static readonly FieldSpec ExternalTaskId = new(
        "external_task_id", FieldKind.Text, "Legacy route only: the caller's own task id, kept with the generation. No control characters.",
        MaxLength: 256, Routes: [CreateRoute.Legacy], Printable: true);

    /// <summary>Kling v1 does a tail frame or motion brush only at 5 s (docs/upstream.md, "Validation").</summary>
    private static readonly DurationLimit V1FiveSecondsOnly =
        new(["tail_image_url", "static_mask", "dynamic_masks"], AllowedDurations: [5]);

    /// <summary>Kling takes only one of: a tail frame, masks, camera control (docs/upstream.md, "Validation").</summary>
    private static readonly IReadOnlyList<IReadOnlyList<string>> V1Exclusive =
        [["tail_image_url"], ["static_mask", "dynamic_masks"], ["camera_control"]];

    private static ModelDefinition V1(string id, string key, string name, string description) => new(
        id, key, name, description,
        Fields:
        [
            Model(id), ImageUrl, Prompt, NegativePrompt, Duration, CfgScale(null), TailImageUrl,
            StaticMask(null), DynamicMasks(null), CameraControl(null), Type, ExternalTaskId,
        ],
        ExclusiveGroups: V1Exclusive,
        DurationLimits: [V1FiveSecondsOnly],
        UpstreamIdExample: "gg6lldgKC2tRmvJwBjK7-");

    private static ModelDefinition V2(string id, string key, string name, string description, bool provider, string idExample) => new(
        id, key, name, description,
        Fields:
        [
            Model(id), ImageUrl, Prompt, NegativePrompt, Duration, CfgScale(V2IgnoresWarning),
            StaticMask(V2IgnoresWarning), DynamicMasks(V2IgnoresWarning), CameraControl(V2IgnoresWarning),
            .. provider ? new[] { Provider } : [],
            Type, ExternalTaskId,
        ],
        // Masks and camera control are ignored on v2, so combining them cannot fail there; no tail frame exists.
        ExclusiveGroups: [],
        DurationLimits: [],
        UpstreamIdExample: idExample);

    public static readonly IReadOnlyList<ModelDefinition> All =
    [
        V1("kling-video/v1/standard/image-to-video", "v1_standard", "Kling v1 Standard",
            "Kling v1, standard mode. Tail frame and masks only at 5 s."),
        V1("kling-video/v1/pro/image-to-video", "v1_pro", "Kling v1 Pro",
            "Kling v1, pro mode, with richer camera control. Tail frame and masks only at 5 s."),
        V2("klingai/v2-master-image-to-video", "v2_master", "Kling v2 Master",
            "Kling v2 Master. No tail frame; cfg_scale, masks and camera control are accepted with a warning and ignored.",
            provider: true, idExample: "88a64d31-cce4-41e8-b9d8-5392e8c2a6d4:kling-video/v2/master/image-to-video"),
        V2("kling-video/v2.1/standard/image-to-video", "v2_1_standard", "Kling v2.1 Standard",
            "Kling v2.1, standard mode. No tail frame; cfg_scale, masks and camera control are accepted with a warning and ignored.",
            provider: false, idExample: "789339022468063304"),
        V2("kling-video/v2.1/pro/image-to-video", "v2_1_pro", "Kling v2.1 Pro",
            "Kling v2.1, pro mode. No tail frame; cfg_scale, masks and camera control are accepted with a warning and ignored.",
            provider: false, idExample: "789392067490349060"),
    ];

    private static readonly Dictionary<string, ModelDefinition> ById = All.ToDictionary(m => m.Id, StringComparer.Ordinal);

    public static IReadOnlyList<string> Ids { get; } = [.. All.Select(m => m.Id)];

    public static ModelDefinition? Find(string? id) => id is not null && ById.TryGetValue(id, out var model) ? model : null;

    /// <summary>"At most 10 MB, 300 to 16384 px on each side", from an image rule.</summary>
    private static string SizeLimits(ImageRule rule) =>
        Invariant($"At most {rule.MaxBytes / (1024 * 1024)} MB, {rule.MinSide} to {rule.MaxSide} px on each side");

    private static string Invariant(FormattableString text) => FormattableString.Invariant(text);
}

/// <summary>Which of the gateway's create routes received a request.</summary>
public enum CreateRoute
{
    /// <summary><c>POST /v1/generations</c></summary>
    Gateway,

    /// <summary><c>POST /v2/video/generations</c> (upstream-compatible, universal family)</summary>
    Universal,

    /// <summary><c>POST /v2/generate/video/kling/generation</c> (upstream-compatible, legacy family)</summary>
    Legacy,
}

/// <summary>How a field is read and checked.</summary>
public enum FieldKind
{
    /// <summary>A string with an optional maximum length.</summary>
    Text,

    /// <summary>A string from <see cref="FieldSpec.AllowedValues"/>.</summary>
    Enum,

    /// <summary>A number in [<see cref="FieldSpec.Minimum"/>, <see cref="FieldSpec.Maximum"/>].</summary>
    Number,

    /// <summary>5 or 10, as a number or a string.</summary>
    Duration,

    /// <summary>An absolute http(s) URL or base64 JPEG/PNG data checked against <see cref="FieldSpec.Image"/>.</summary>
    Image,

    /// <summary>An array of <c>{mask, trajectories[{x, y}]}</c>.</summary>
    DynamicMasks,

    /// <summary>An object <c>{type, config{horizontal, vertical, pan, tilt, roll, zoom}}</c>.</summary>
    CameraControl,
}

/// <summary>One field a model takes.</summary>
/// <param name="Name">The JSON name, as the upstream spells it.</param>
/// <param name="Kind">How it is read and checked.</param>
/// <param name="Description">What it does, shown in the catalog and the OpenAPI document.</param>
/// <param name="Required">Whether a request must carry it.</param>
/// <param name="Minimum">Least allowed value (numbers, camera config values).</param>
/// <param name="Maximum">Greatest allowed value.</param>
/// <param name="MaxLength">Longest allowed text.</param>
/// <param name="MaxItems">Most array items.</param>
/// <param name="AllowedValues">The values allowed (enums, durations, camera types).</param>
/// <param name="IgnoreCase">Whether <paramref name="AllowedValues"/> match in any case.</param>
/// <param name="Default">The upstream's default when the field is left out.</param>
/// <param name="Image">Limits on base64 image data.</param>
/// <param name="Trajectory">Points per trajectory (<see cref="FieldKind.DynamicMasks"/>).</param>
/// <param name="Routes">The create routes that take this field; null means every route.</param>
/// <param name="IgnoredWarning">Set where the upstream takes the field but the model ignores it: accepted with this warning.</param>
/// <param name="Noun">What the field gives, in words ("tail frame"), for telling a caller that a model has none.</param>
/// <param name="Printable">Text that is an identifier: no control characters (a line break in an id forges log lines and headers wherever it goes).</param>
public sealed record FieldSpec(
    string Name,
    FieldKind Kind,
    string Description,
    bool Required = false,
    double? Minimum = null,
    double? Maximum = null,
    int? MaxLength = null,
    int? MaxItems = null,
    IReadOnlyList<string>? AllowedValues = null,
    bool IgnoreCase = false,
    string? Default = null,
    ImageRule? Image = null,
    TrajectoryRule? Trajectory = null,
    IReadOnlyList<CreateRoute>? Routes = null,
    string? IgnoredWarning = null,
    string? Noun = null,
    bool Printable = false)
{
    public bool AcceptedOn(CreateRoute route) => Routes is null || Routes.Contains(route);
}

/// <summary>Limits on base64 image data, read from the image header without decoding pixels.</summary>
public sealed record ImageRule(long MaxBytes, int MinSide, int MaxSide, double? MinAspect, double? MaxAspect)
{
    /// <summary>
    /// The longest side the gateway takes. Kling documents none (docs/upstream.md, "Validation"); its videos are at
    /// most 1080p, and 16384 px is the texture limit of current GPUs and about the largest image common decoders
    /// accept (WebP's own limit is 16383), so no real first frame is refused while a header claiming 2147483647 px is.
    /// </summary>
    public const int LargestSide = 16384;

    /// <summary>Accepted formats (Kling: .jpg/.jpeg/.png).</summary>
    public static readonly IReadOnlyList<string> Formats = ["jpeg", "png"];
}

/// <summary>How many <c>{x, y}</c> points one trajectory of a dynamic mask has.</summary>
public sealed record TrajectoryRule(int MinPoints, int MaxPoints);

/// <summary>Fields that, when present, restrict the duration.</summary>
public sealed record DurationLimit(IReadOnlyList<string> Fields, IReadOnlyList<int> AllowedDurations);

/// <summary>One model the gateway accepts.</summary>
/// <param name="Id">The exact <c>model</c> string the upstream takes.</param>
/// <param name="Key">A short alias safe in configuration keys and environment variables (e.g. <c>v2_master</c>).</param>
/// <param name="Name">Display name.</param>
/// <param name="Description">What sets it apart.</param>
/// <param name="Fields">Every field it takes; anything else is rejected by name.</param>
/// <param name="ExclusiveGroups">Groups of fields of which at most one group may be present.</param>
/// <param name="DurationLimits">Fields that restrict the duration when present.</param>
/// <param name="UpstreamIdExample">What the upstream's ids look like for this model (docs/upstream.md, "Ids").</param>
public sealed record ModelDefinition(
    string Id,
    string Key,
    string Name,
    string Description,
    IReadOnlyList<FieldSpec> Fields,
    IReadOnlyList<IReadOnlyList<string>> ExclusiveGroups,
    IReadOnlyList<DurationLimit> DurationLimits,
    string UpstreamIdExample)
{
    public FieldSpec? Field(string name) => Fields.FirstOrDefault(f => f.Name == name);

    /// <summary>The video seconds a create gets when its body leaves <c>duration</c> out: that field's default.</summary>
    public int DefaultDuration { get; } = int.Parse(
        Fields.First(f => f.Kind == FieldKind.Duration).Default!, NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>The upstream route families that take this model: both take all five (docs/upstream.md, "Routes").</summary>
    public IReadOnlyList<string> RouteFamilies { get; init; } = ["universal", "legacy"];
}

/// <summary>Endpoint metadata naming the create route, read when the request body is bound.</summary>
public sealed record CreateRouteMetadata(CreateRoute Route);
