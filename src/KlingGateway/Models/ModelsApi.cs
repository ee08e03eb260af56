using KlingGateway.Access;
using KlingGateway.Infrastructure;
using KlingGateway.Upstream;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace KlingGateway.Models;

/// <summary>
/// The model catalog as data, for frontends to build their forms from:
/// <list type="table">
/// <item><term>GET /v1/models</term><description>all models</description></item>
/// <item><term>GET /v1/models/{id}</term><description>one model (its id holds slashes; they may be escaped or not)</description></item>
/// </list>
/// </summary>
public static class ModelsApi
{
    public static RouteGroupBuilder MapModels(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/models").WithTags("Models").RequireCaller();

        group.MapGet("/", List)
            .WithName("ListModels")
            .WithSummary("List the models")
            .WithDescription("Every model the gateway accepts: the fields each takes with types, ranges, allowed values and " +
                             "defaults, the rules between fields, the upstream route families it accepts, and what is accepted " +
                             "with a warning.");

        group.MapGet("/{**id}", Get)
            .WithName("GetModel")
            .WithSummary("Describe one model")
            .WithDescription("One model of the catalog, by its id (e.g. kling-video/v1/pro/image-to-video).")
            .ProducesProblem(StatusCodes.Status404NotFound);

        return group;
    }

    private static Ok<ModelList> List(IOptions<AimlApiOptions> upstream) =>
        TypedResults.Ok(new ModelList([.. ModelCatalog.All.Select(m => ModelResource.From(m, upstream.Value))]));

    private static Results<Ok<ModelResource>, ProblemHttpResult> Get(string id, IOptions<AimlApiOptions> upstream)
    {
        var model = ModelCatalog.Find(Uri.UnescapeDataString(id));
        return model is null
            ? ProblemCatalog.ModelNotFound.Result($"No model with this id. Models: {string.Join(", ", ModelCatalog.Ids)}.")
            : TypedResults.Ok(ModelResource.From(model, upstream.Value));
    }
}

/// <summary>The catalog.</summary>
public sealed record ModelList(IReadOnlyList<ModelResource> Models);

/// <summary>One model and everything a form needs to know about it.</summary>
/// <param name="Id">The exact model string to send.</param>
/// <param name="Key">Its short alias, used in configuration (AimlApi:RouteFamilies:{key}).</param>
/// <param name="Name">Display name.</param>
/// <param name="Description">What sets it apart.</param>
/// <param name="RouteFamilies">The upstream route families that take it.</param>
/// <param name="UpstreamRouteFamily">The family this gateway forwards it on (configuration).</param>
/// <param name="Fields">Every field it takes; any other is rejected.</param>
/// <param name="ExclusiveGroups">Groups of fields of which a request may use at most one.</param>
/// <param name="DurationLimits">Fields that, when present, restrict the duration.</param>
/// <param name="AcceptedWithWarning">Fields accepted but ignored by this model; using them adds a warning.</param>
public sealed record ModelResource(
    string Id,
    string Key,
    string Name,
    string Description,
    IReadOnlyList<string> RouteFamilies,
    string UpstreamRouteFamily,
    IReadOnlyList<FieldResource> Fields,
    IReadOnlyList<IReadOnlyList<string>> ExclusiveGroups,
    IReadOnlyList<DurationLimitResource> DurationLimits,
    IReadOnlyList<string> AcceptedWithWarning)
{
    public static ModelResource From(ModelDefinition model, AimlApiOptions upstream) => new(
        model.Id,
        model.Key,
        model.Name,
        model.Description,
        model.RouteFamilies,
        upstream.RouteFamilyFor(model.Key),
        [.. model.Fields.Select(FieldResource.From)],
        model.ExclusiveGroups,
        [.. model.DurationLimits.Select(d => new DurationLimitResource(d.Fields, d.AllowedDurations))],
        [.. model.Fields.Where(f => f.IgnoredWarning is not null).Select(f => f.Name)]);
}

/// <summary>One field a model takes.</summary>
/// <param name="Name">JSON name.</param>
/// <param name="Type">JSON type: string, integer, number, object or array.</param>
/// <param name="Kind">How the gateway reads it: text, enum, number, duration, image, dynamic_masks, camera_control.</param>
/// <param name="Required">Whether a request must carry it.</param>
/// <param name="Description">What it does and what is allowed.</param>
/// <param name="Minimum">Least value (numbers; camera config values).</param>
/// <param name="Maximum">Greatest value.</param>
/// <param name="MaxLength">Longest text.</param>
/// <param name="MaxItems">Most array items.</param>
/// <param name="AllowedValues">Allowed values.</param>
/// <param name="IgnoreCase">Whether allowed values match in any case.</param>
/// <param name="Default">The upstream's default when left out.</param>
/// <param name="Image">Limits on base64 image data.</param>
/// <param name="Routes">Create routes that take it (gateway, universal, legacy); absent means all.</param>
/// <param name="Warning">Set when the model ignores the field: the warning a request using it gets.</param>
/// <param name="ConfigKeys">camera_control: the keys its config takes, each between Minimum and Maximum.</param>
public sealed record FieldResource(
    string Name,
    string Type,
    string Kind,
    bool Required,
    string Description,
    double? Minimum,
    double? Maximum,
    int? MaxLength,
    int? MaxItems,
    IReadOnlyList<string>? AllowedValues,
    bool? IgnoreCase,
    string? Default,
    ImageRuleResource? Image,
    IReadOnlyList<string>? Routes,
    string? Warning,
    IReadOnlyList<string>? ConfigKeys)
{
    public static FieldResource From(FieldSpec field) => new(
        field.Name,
        JsonTypeOf(field.Kind),
        KindName(field.Kind),
        field.Required,
        field.Description,
        field.Minimum,
        field.Maximum,
        field.MaxLength,
        field.MaxItems,
        field.AllowedValues,
        field.IgnoreCase ? true : null,
        field.Default,
        field.Image is { } rule ? new ImageRuleResource(ImageRule.Formats, rule.MaxBytes, rule.MinSide, rule.MaxSide, rule.MinAspect, rule.MaxAspect) : null,
        field.Routes?.Select(r => r.ToString().ToLowerInvariant()).ToList(),
        field.IgnoredWarning,
        field.Kind == FieldKind.CameraControl ? ModelCatalog.CameraConfigKeys : null);

    public static string JsonTypeOf(FieldKind kind) => kind switch
    {
        FieldKind.Number => "number",
        FieldKind.Duration => "integer",
        FieldKind.DynamicMasks => "array",
        FieldKind.CameraControl => "object",
        FieldKind.Text or FieldKind.Enum or FieldKind.Image => "string",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static string KindName(FieldKind kind) => kind switch
    {
        FieldKind.DynamicMasks => "dynamic_masks",
        FieldKind.CameraControl => "camera_control",
        _ => kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>Limits on base64 image data (URLs are not fetched by the gateway).</summary>
/// <param name="Formats">Accepted formats.</param>
/// <param name="MaxBytes">Largest decoded size.</param>
/// <param name="MinSide">Smallest width and height in pixels.</param>
/// <param name="MaxSide">Largest width and height in pixels.</param>
/// <param name="MinAspect">Smallest width/height ratio, when limited.</param>
/// <param name="MaxAspect">Largest width/height ratio, when limited.</param>
public sealed record ImageRuleResource(IReadOnlyList<string> Formats, long MaxBytes, int MinSide, int MaxSide, double? MinAspect, double? MaxAspect);

/// <summary>Fields that restrict the duration when present.</summary>
/// <param name="Fields">The fields.</param>
/// <param name="AllowedDurations">The durations allowed with them.</param>
public sealed record DurationLimitResource(IReadOnlyList<string> Fields, IReadOnlyList<int> AllowedDurations);
