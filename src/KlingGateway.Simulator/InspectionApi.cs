using Microsoft.AspNetCore.Mvc;

namespace KlingGateway.Simulator;

/// <summary>Unauthenticated views of <see cref="SimulatorState"/> for demos and out-of-process tests.</summary>
internal static class InspectionApi
{
    public static RouteGroupBuilder MapInspection(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/_simulator");

        group.MapGet("/requests", (SimulatorState state) => TypedResults.Ok(state.Requests))
            .WithName("SimulatorRequests")
            .WithSummary("Every request recorded on the upstream routes, oldest first.");
        group.MapDelete("/requests", (SimulatorState state) =>
            {
                state.Clear();
                return TypedResults.NoContent();
            })
            .WithName("SimulatorClear")
            .WithSummary("Forgets the recorded requests and resets the create and fetch counters.");
        group.MapGet("/creates/count", (SimulatorState state) => TypedResults.Ok(new { creates = state.CreateCount }))
            .WithName("SimulatorCreateCount")
            .WithSummary("How many creates were received.");
        group.MapGet("/fetches/count", (SimulatorState state) => TypedResults.Ok(new { fetches = state.FetchTotal }))
            .WithName("SimulatorFetchTotal")
            .WithSummary("How many fetches all generations have had together.");
        group.MapGet("/files/requests", (SimulatorState state) => TypedResults.Ok(state.FileRequests))
            .WithName("SimulatorFileRequests")
            .WithSummary("Every request for a video file, oldest first, with its headers.");
        group.MapGet("/generations/file-count", ([FromQuery(Name = "generation_id")] string generationId, SimulatorState state) =>
                TypedResults.Ok(new { requests = state.FileRequestCount(generationId) }))
            .WithName("SimulatorFileCount")
            .WithSummary("How many requests a generation's video file has had.");
        group.MapGet("/generations/fetch-count", ([FromQuery(Name = "generation_id")] string generationId, SimulatorState state) =>
                TypedResults.Ok(new { fetches = state.FetchCount(generationId) }))
            .WithName("SimulatorFetchCount")
            .WithSummary("How many fetches a generation has had.");

        group.MapPut("/logs/fault/{status:int}", (int status, SimulatorState state) =>
            {
                if (status is < 400 or > 599)
                {
                    return Results.BadRequest(new { message = "A usage-log fault is an error status, 400 to 599." });
                }

                state.UsageLogFault = status;
                return Results.NoContent();
            })
            .WithName("SimulatorUsageLogFault")
            .WithSummary("Makes GET /v2/logs answer this error status until the fault is cleared.");
        group.MapDelete("/logs/fault", (SimulatorState state) =>
            {
                state.UsageLogFault = null;
                return TypedResults.NoContent();
            })
            .WithName("SimulatorUsageLogFaultClear")
            .WithSummary("Lets GET /v2/logs answer normally again.");

        return group;
    }
}
