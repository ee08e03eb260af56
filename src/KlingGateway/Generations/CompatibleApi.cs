using KlingGateway.Access;
using KlingGateway.Infrastructure;
using KlingGateway.Upstream;
using KlingGateway.Videos;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using IDiagnosticContext = Serilog.IDiagnosticContext;

namespace KlingGateway.Generations;

/// <summary>
/// Drop-in replacements for the AI/ML API's own routes, so a client written for the upstream works by changing
/// only its base URL and dropping its key:
/// <list type="table">
/// <item><term>GET /v2/video/generations?generation_id=</term><description>universal fetch</description></item>
/// <item><term>GET /v2/generate/video/kling/generation?generation_id=</term><description>legacy fetch</description></item>
/// </list>
/// Answers carry the gateway's id and the upstream's status words (queued, generating, completed, error). Their creates,
/// POST on the same paths, are <see cref="Creates.CreatesApi"/>.
/// </summary>
public static class CompatibleApi
{
    public static IEndpointRouteBuilder MapCompatibleRoutes(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v2").WithTags("Upstream-compatible").RequireCaller();

        MapFamily(group, "/video/generations", "Universal");
        MapFamily(group, "/generate/video/kling/generation", "Legacy");
        return app;
    }

    private static void MapFamily(RouteGroupBuilder group, string path, string name)
    {
        group.MapGet(path, Get)
            .WithName($"Get{name}Compatible")
            .WithSummary($"Read a generation ({name.ToLowerInvariant()} upstream route, compatible)")
            .WithDescription("The AI/ML API's fetch route for gateway ids: {id, status (queued|generating|completed|error), video, " +
                             "error, meta}. Poll until the status is neither queued nor generating. video.url is the gateway's own " +
                             "link to the video, which works without credentials (Videos:CompatibleVideoUrl=upstream passes the " +
                             "upstream's URL through instead).")
            .ProducesValidationProblem()
            .ProducesStatusProblems();
    }

    private static async Task<Results<Ok<CompatibleGeneration>, ValidationProblem, ProblemHttpResult>> Get(
        HttpContext context, CurrentCaller caller, GenerationService generations, UpstreamFaultMapper faults, IDiagnosticContext requestLog, VideoLinks links, [FromQuery(Name = "generation_id")] string? generationId = null)
    {
        if (string.IsNullOrWhiteSpace(generationId))
        {
            return ProblemCatalog.InvalidQuery.ValidationResult(
                new Dictionary<string, string[]> { ["generation_id"] = ["generation_id is required: the id a create answered with."] });
        }

        var (generation, problem) = await GenerationProblems.ReadAsync(generationId, context, caller.Caller, generations, faults, requestLog);
        return problem is not null
            ? problem
            : TypedResults.Ok(CompatibleGeneration.From(generation!, withWarnings: false, links.DescribeCompatible(generation!, context.Request)));
    }
}
