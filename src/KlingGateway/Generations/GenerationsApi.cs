using KlingGateway.Access;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;
using KlingGateway.Videos;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using IDiagnosticContext = Serilog.IDiagnosticContext;

namespace KlingGateway.Generations;

/// <summary>
/// The gateway's own generation API:
/// <list type="table">
/// <item><term>GET /v1/generations/{id}</term><description>its normalized status</description></item>
/// <item><term>GET /v1/generations</term><description>newest first, filtered, cursor-paged</description></item>
/// <item><term>GET /v1/generations/{id}/content</term><description>the video (<see cref="ContentApi"/>)</description></item>
/// </list>
/// Its create, <c>POST /v1/generations</c>, is <see cref="Creates.CreatesApi"/>.
/// </summary>
public static class GenerationsApi
{
    private static readonly IntegerQuery Limit = new("limit", 1);

    public static RouteGroupBuilder MapGenerations(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/generations").WithTags("Generations").RequireCaller();

        group.MapGet("/{id}", Get)
            .WithName("GetGeneration")
            .WithSummary("Read a generation's status")
            .WithDescription("The normalized status: queued, processing, succeeded or failed. The gateway brings every generation to " +
                             "its end on its own, asking the upstream once per refresh interval (5 s by default) whether anyone reads " +
                             "or not; a read when that is due shares the same fetch. A generation not finished after the deadline " +
                             "(30 min by default) is failed with deadline_exceeded, and turns succeeded if the upstream completes it " +
                             "later. video.url is the gateway's own link to the video (GET /v1/generations/{id}/content), which works " +
                             "without credentials until video.url_expires_at.")
            .ProducesStatusProblems();

        group.MapGet("/", List)
            .WithName("ListGenerations")
            .WithSummary("List generations")
            .WithDescription("Newest first, from the gateway's ledger (no upstream calls): the caller's own generations (an admin " +
                             "client sees all). Filter by status and model; page with limit (1..100, default 20) and the next_cursor " +
                             "of the previous page.")
            .WithMetadata(Limit)
            .ProducesProblem(StatusCodes.Status400BadRequest);

        return group;
    }

    private static async Task<Results<Ok<GenerationResource>, ProblemHttpResult>> Get(
        string id, HttpContext context, CurrentCaller caller, GenerationService generations, UpstreamFaultMapper faults, IDiagnosticContext requestLog, VideoLinks links)
    {
        var (generation, problem) = await GenerationProblems.ReadAsync(id, context, caller.Caller, generations, faults, requestLog);
        return problem is not null ? problem : TypedResults.Ok(GenerationResource.From(generation!, links.Describe(generation!, context.Request)));
    }

    private static async Task<Results<Ok<GenerationList>, ValidationProblem>> List(
        HttpContext context,
        CurrentCaller current,
        IGenerationStore store,
        IOptions<GenerationOptions> options,
        VideoLinks links,
        CancellationToken cancellationToken,
        [FromQuery] string? status = null,
        [FromQuery] string? model = null,
        [FromQuery] string[]? limit = null,
        [FromQuery] string? cursor = null)
    {
        var settings = options.Value;
        var errors = new Dictionary<string, string[]>();
        GenerationStatus? statusFilter = null;
        if (status is not null)
        {
            if (StatusMapper.TryParseApiString(status, out var parsed))
            {
                statusFilter = parsed;
            }
            else
            {
                errors["status"] = ["status must be one of: queued, processing, succeeded, failed."];
            }
        }

        if (model is not null && ModelCatalog.Find(model) is null)
        {
            errors["model"] = [$"model must be one of: {string.Join(", ", ModelCatalog.Ids)}."];
        }

        var pageSize = Limit.Read(limit, settings.MaxPageSize, errors);

        GenerationCursor? after = null;
        if (cursor is not null)
        {
            if (GenerationCursor.TryParse(cursor, out var parsed))
            {
                after = parsed;
            }
            else
            {
                errors["cursor"] = ["cursor must be a next_cursor value from a previous page."];
            }
        }

        if (errors.Count > 0)
        {
            return ProblemCatalog.InvalidQuery.ValidationResult(errors);
        }

        var caller = current.Caller;
        var query = new GenerationQuery(statusFilter, model, pageSize ?? settings.DefaultPageSize, after) { Owner = caller.IsAdmin ? null : caller.Owner };
        var page = await store.ListAsync(query, cancellationToken);
        return TypedResults.Ok(new GenerationList([.. page.Items.Select(g => GenerationResource.From(g, links.Describe(g, context.Request)))], page.Next?.ToString()));
    }
}

/// <summary>Problems shared by the generation routes.</summary>
internal static class GenerationProblems
{
    /// <summary>
    /// A status read shared by the own and the compatible routes: the caller's generation, refreshed when due, or the
    /// problem to answer (not found, which also covers another client's generation, or the mapped upstream fault).
    /// </summary>
    public static async Task<(Generation? Generation, ProblemHttpResult? Problem)> ReadAsync(
        string id, HttpContext context, Caller caller, GenerationService generations, UpstreamFaultMapper faults, IDiagnosticContext requestLog)
    {
        requestLog.SetGenerationId(id);
        var outcome = await generations.GetAsync(id, caller, context.RequestAborted);
        if (outcome.Generation is not { } generation)
        {
            return (null, NotFound(id));
        }

        requestLog.SetGeneration(generation);
        return outcome.Fault is { } fault
            ? (generation, faults.ToProblem(context.Response, fault, generation.Id, UpstreamOperation.Fetch))
            : (generation, null);
    }

    public static ProblemHttpResult NotFound(string id) => ProblemCatalog.GenerationNotFound.Result(
        "No generation with this id was issued by this gateway.", [new("generation_id", id)]);

    /// <summary>Every answer a status read can give besides success.</summary>
    public static RouteHandlerBuilder ProducesStatusProblems(this RouteHandlerBuilder builder) => builder
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status429TooManyRequests)
        .ProducesProblem(StatusCodes.Status502BadGateway)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
        .ProducesProblem(StatusCodes.Status504GatewayTimeout);
}
