using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using Serilog;

namespace KlingGateway.Videos;

/// <summary>
/// <c>GET /v1/generations/{id}/content</c>: a generation's video, served by the gateway itself. A stored video is a file
/// answered with the framework's own file support (Content-Type, Content-Length, ETag, Last-Modified, Accept-Ranges; 206
/// for Range, 304 for If-None-Match, 412 and 416 where they apply); one not stored yet is streamed from its source
/// (<see cref="VideoSourceStream"/>). Either the link's token (<see cref="VideoLinks"/>) or the caller's own credentials
/// let a request in; with credentials, the same ownership rule as every route holds (someone else's video is a 404).
/// A settled generation (finished, its video stored) comes from the generations' memory cache, as a status read does, so a
/// player reading a video range by range does not read the ledger for each range.
/// </summary>
public static class ContentApi
{
    public const string Route = "/v1/generations/{id}/content";

    public static IEndpointRouteBuilder MapVideoContent(this IEndpointRouteBuilder app)
    {
        app.MapGet(Route, Content)
            .WithTags("Generations")
            .WithName("GetGenerationContent")
            .WithSummary("Download or play a generation's video")
            .WithDescription("The video of a succeeded generation, as video.url links to it. A plain GET with the link's token " +
                             "(no credentials: a <video src> plays it) or with the caller's own credentials (then the token may be " +
                             "left out). Range requests answer 206, If-None-Match 304. A stored video is served from the gateway's " +
                             "storage; one not stored yet (its download pending or failed, or storage off) is streamed from the " +
                             "upstream through the gateway. After the retention period it is 410.")
            // The token or the credentials decide inside; the caller's rate limit still applies when there is a caller.
            .RequireCaller()
            .AllowAnonymous()
            .Produces(StatusCodes.Status200OK, contentType: "video/mp4")
            .Produces(StatusCodes.Status206PartialContent, contentType: "video/mp4")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status410Gone)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesProblem(StatusCodes.Status416RangeNotSatisfiable)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);
        // HEAD as a player may ask it; the same handler, left out of the document to keep one operation per route.
        app.MapMethods(Route, [HttpMethods.Head], Content)
            .RequireCaller()
            .AllowAnonymous()
            .ExcludeFromDescription();
        return app;
    }

    private static async Task<Results<ProblemHttpResult, EmptyHttpResult>> Content(
        string id,
        HttpContext context,
        CurrentCaller current,
        GenerationService generations,
        VideoLinks links,
        IVideoStorage storage,
        VideoSourceStream source,
        IDiagnosticContext requestLog,
        [FromQuery(Name = VideoLinks.TokenParameter)] string? token = null)
    {
        requestLog.SetGenerationId(id);
        var wellFormed = GenerationId.IsWellFormed(id);
        var linked = wellFormed && links.IsValid(id, token);
        var caller = current.Value;

        var generation = wellFormed && (linked || caller is not null) ? await generations.FindAsync(id, context.RequestAborted) : null;
        var visible = generation is not null && (linked || caller!.CanSee(generation));
        if (!visible)
        {
            if (token is not null && !linked)
            {
                // The same answer whether the generation exists or not: a token tells nothing about other generations.
                return ProblemCatalog.InvalidVideoLink.Result(
                    "This video link is malformed, has expired, or was made for another generation. Read the generation again " +
                    "for a fresh video.url, or send your credentials.", [new("generation_id", id)]);
            }

            if (caller is null && !linked)
            {
                context.Response.Headers.WWWAuthenticate = "ApiKey";
                return ProblemCatalog.Unauthenticated.Result(
                    "This video needs the token of its link (video.url) or your credentials: X-Api-Key or Authorization: Bearer.");
            }

            return GenerationProblems.NotFound(id);
        }

        ArgumentNullException.ThrowIfNull(generation);
        requestLog.SetGeneration(generation);
        if (generation.Status != GenerationStatus.Succeeded || generation.Video is not { } video)
        {
            return ProblemCatalog.VideoNotAvailable.Result(
                $"The generation is {generation.Status.ToApiString()} and has no video" +
                (generation.Status.IsTerminal() ? "." : " yet; read the generation until it has succeeded."),
                [new("generation_id", id), new("status", generation.Status.ToApiString())]);
        }

        if (generation.Kept is { State: KeptVideoState.Expired })
        {
            return ProblemCatalog.VideoExpired.Result(
                "The gateway kept this video for the retention period (Storage:Retention) after the generation completed, and has removed it.",
                [new("generation_id", id), new("expired_after", generation.CompletedAt)]);
        }

        if (generation.Kept is { State: KeptVideoState.Stored, Key: { } key } kept && storage.Find(key) is { } stored)
        {
            var headers = context.Response.Headers;
            // The bytes under a generation's id never change, so a browser may keep them for as long as its link lives.
            headers.CacheControl = "private, max-age=3600";
            headers.ContentDisposition = new ContentDispositionHeaderValue("inline") { FileName = $"{generation.Id}.mp4" }.ToString();
            var type = kept.ContentType ?? "video/mp4";
            var etag = kept.Sha256 is { } sha ? new EntityTagHeaderValue($"\"{sha}\"") : null;
            var modified = kept.StoredAt ?? stored.LastModified;
            IResult file = stored.PhysicalPath is { } path
                ? TypedResults.PhysicalFile(path, type, lastModified: modified, entityTag: etag, enableRangeProcessing: true)
                : TypedResults.Stream(stored.OpenRead(), type, lastModified: modified, entityTag: etag, enableRangeProcessing: true);
            await file.ExecuteAsync(context);
            if (context.Response.StatusCode is StatusCodes.Status416RangeNotSatisfiable or StatusCodes.Status412PreconditionFailed
                && !context.Response.HasStarted)
            {
                // The framework answers these with an empty body (and a length, so status code pages pass them by): the
                // problem is written here, keeping its Content-Range, which says how long the video is.
                context.Response.ContentLength = null;
                var problem = context.Response.StatusCode == StatusCodes.Status416RangeNotSatisfiable
                    ? ProblemCatalog.RangeNotSatisfiable.Result($"The video is {stored.Length} bytes; the Range asks for bytes past its end.")
                    : ProblemCatalog.PreconditionFailed.Result("An If-Match or If-Unmodified-Since header does not match this video.");
                await problem.ExecuteAsync(context);
            }

            return TypedResults.Empty;
        }

        if (!VideoSourceClient.IsFetchable(video.Url, out var url))
        {
            return ProblemCatalog.VideoSourceFailed.Result("The upstream's video URL is not an http(s) URL the gateway can fetch.",
                [new("generation_id", id)]);
        }

        var failure = await source.StreamAsync(context, url!);
        if (failure is null)
        {
            return TypedResults.Empty;
        }

        return failure.TimedOut
            ? ProblemCatalog.VideoSourceTimeout.Result("The video's source did not answer in time; try again shortly.", [new("generation_id", id)])
            : ProblemCatalog.VideoSourceFailed.Result(
                failure.SourceStatus is { } status
                    ? $"The video is not stored yet, and its source answered {status}."
                    : "The video is not stored yet, and its source could not be reached.",
                [new("generation_id", id), new("source_status", failure.SourceStatus)]);
    }
}
