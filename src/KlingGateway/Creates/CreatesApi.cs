using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Videos;
using Microsoft.AspNetCore.Http.HttpResults;
using IDiagnosticContext = Serilog.IDiagnosticContext;

namespace KlingGateway.Creates;

/// <summary>
/// The three create routes, one use case (<see cref="CreateFlow"/>), each answering in its own shape:
/// <list type="table">
/// <item><term>POST /v1/generations</term><description>the gateway's own: 202, Location and the generation resource</description></item>
/// <item><term>POST /v2/video/generations</term><description>the upstream's universal route, answered in its shape (200)</description></item>
/// <item><term>POST /v2/generate/video/kling/generation</term><description>the upstream's legacy route (also takes type, external_task_id)</description></item>
/// </list>
/// A request passes, in order: authentication and the caller's rate (<see cref="AccessServiceCollectionExtensions.RequireCaller{TBuilder}"/>),
/// the body read (<see cref="GenerationRequest.BindAsync"/>), <see cref="CreateAuditFilter"/>, <see cref="ValidationFilter"/>,
/// then the handler and <see cref="CreateFlow.RunAsync"/>. Their reads are <see cref="GenerationsApi"/> and <see cref="CompatibleApi"/>.
/// </summary>
public static class CreatesApi
{
    public static IEndpointRouteBuilder MapCreates(this IEndpointRouteBuilder app)
    {
        // In the group its reads use, so its route template (a span's and a metric's http.route) stays /v1/generations/.
        app.MapGroup("/v1/generations").MapPost("/", Create)
            .WithTags("Generations")
            .WithName("CreateGeneration")
            .WithSummary("Start a generation")
            .WithDescription("Validates the body against the rules of its model, forwards it once to the AI/ML API with the " +
                             "server's key, and answers 202 with the gateway's own generation id and a Location to poll. " +
                             "The body is the upstream's body for the chosen model (see the schemas, discriminated by model). " +
                             "Invalid input is one 400 problem listing every fault, keyed by JSON path. The caller's in-flight " +
                             "and daily limits are checked first (429 problems saying what remains). An Idempotency-Key header " +
                             "makes retries safe: the same key and body return the same generation for 24 hours.")
            .AsCreate(CreateRoute.Gateway);

        MapCompatible(app, "/v2/video/generations", CreateRoute.Universal, "Universal");
        MapCompatible(app, "/v2/generate/video/kling/generation", CreateRoute.Legacy, "Legacy");
        return app;
    }

    private static void MapCompatible(IEndpointRouteBuilder app, string path, CreateRoute route, string name)
    {
        var extra = route == CreateRoute.Legacy ? " This legacy route also takes type (\"image-to-video\") and external_task_id." : "";
        app.MapPost(path, CreateCompatible)
            .WithTags("Upstream-compatible")
            .WithName($"Create{name}Compatible")
            .WithSummary($"Start a generation ({name.ToLowerInvariant()} upstream route, compatible)")
            .WithDescription("The AI/ML API's own create route and body, answered in its shape ({id, status, ...}) with the gateway's " +
                             "id. Validated and limited exactly like POST /v1/generations, Idempotency-Key included. Authorization: Bearer " +
                             "is read as a client key or a user's token, never forwarded; where anonymous callers are allowed, any " +
                             "other Bearer value (such as the upstream docs' placeholder) is ignored." + extra)
            .AsCreate(route);
    }

    /// <summary>What every create route shares: its caller, its kind of body, its two filters and its problems.</summary>
    private static RouteHandlerBuilder AsCreate(this RouteHandlerBuilder builder, CreateRoute route) => builder
        .RequireCaller()
        .WithMetadata(new CreateRouteMetadata(route))
        .AddEndpointFilter<CreateAuditFilter>()
        .AddEndpointFilter<ValidationFilter>()
        .ProducesCreateProblems();

    private static async Task<Results<Accepted<GenerationResource>, ProblemHttpResult>> Create(
        GenerationRequest request, HttpContext context, CreateFlow create, IDiagnosticContext requestLog, VideoLinks links)
    {
        requestLog.SetModel(request.ModelId);
        var answer = await create.RunAsync(request, context, StatusCodes.Status202Accepted);
        if (answer.Problem is { } problem)
        {
            return problem;
        }

        var generation = answer.Generation!;
        return TypedResults.Accepted($"/v1/generations/{generation.Id}", GenerationResource.From(generation, links.Describe(generation, context.Request)));
    }

    private static async Task<Results<Ok<CompatibleGeneration>, ProblemHttpResult>> CreateCompatible(
        GenerationRequest request, HttpContext context, CreateFlow create, IDiagnosticContext requestLog, VideoLinks links)
    {
        requestLog.SetModel(request.ModelId);
        var answer = await create.RunAsync(request, context, StatusCodes.Status200OK);
        return answer.Problem is { } problem
            ? problem
            : TypedResults.Ok(CompatibleGeneration.From(answer.Generation!, withWarnings: true, links.DescribeCompatible(answer.Generation!, context.Request)));
    }

    /// <summary>Every answer a create can give besides success, for the OpenAPI document.</summary>
    private static RouteHandlerBuilder ProducesCreateProblems(this RouteHandlerBuilder builder) => builder
        .ProducesValidationProblem()
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status408RequestTimeout)
        .ProducesProblem(StatusCodes.Status409Conflict)
        .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
        .ProducesProblem(StatusCodes.Status429TooManyRequests)
        .ProducesProblem(StatusCodes.Status502BadGateway)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
        .ProducesProblem(StatusCodes.Status504GatewayTimeout);
}
