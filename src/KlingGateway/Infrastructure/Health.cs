using KlingGateway.Generations;
using KlingGateway.Upstream;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace KlingGateway.Infrastructure;

/// <summary>
/// <c>/health/live</c>: the process answers. <c>/health/ready</c>: the ledger is reachable and an upstream key is
/// configured (or the simulator stands in). Both are mapped in every environment.
/// </summary>
public static class HealthExtensions
{
    private const string Ready = "ready";

    public static IServiceCollection AddGatewayHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<LedgerHealthCheck>("ledger", tags: [Ready])
            .AddCheck<UpstreamKeyHealthCheck>("upstream_key", tags: [Ready]);
        return services;
    }

    public static IEndpointRouteBuilder MapGatewayHealthChecks(this IEndpointRouteBuilder app)
    {
        // Route handlers rather than MapHealthChecks, so both probes appear in the OpenAPI document.
        var group = app.MapGroup("/health").WithTags("Health");
        group.MapGet("/live", Live)
            .WithName("Live")
            .WithSummary("Liveness")
            .WithDescription("200 while the process answers. Checks nothing else, so a slow dependency never restarts the gateway.");
        group.MapGet("/ready", ReadyAsync)
            .WithName("Ready")
            .WithSummary("Readiness")
            .WithDescription("200 when the ledger is reachable and an upstream key is configured (or the simulator stands in); " +
                             "503 with the failing check otherwise.")
            .Produces<HealthAnswer>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static Ok<HealthAnswer> Live() => TypedResults.Ok(new HealthAnswer("Healthy", new Dictionary<string, HealthEntry>()));

    private static async Task<Results<Ok<HealthAnswer>, JsonHttpResult<HealthAnswer>>> ReadyAsync(
        HealthCheckService health, CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(c => c.Tags.Contains(Ready), cancellationToken);
        var answer = new HealthAnswer(
            report.Status.ToString(),
            report.Entries.ToDictionary(e => e.Key, e => new HealthEntry(e.Value.Status.ToString(), e.Value.Description)));
        return report.Status == HealthStatus.Healthy
            ? TypedResults.Ok(answer)
            : TypedResults.Json(answer, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private sealed class LedgerHealthCheck(IGenerationStore store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            await store.IsReachableAsync(cancellationToken)
                ? HealthCheckResult.Healthy("The ledger answers.")
                : HealthCheckResult.Unhealthy("The ledger cannot be reached.");
    }

    private sealed class UpstreamKeyHealthCheck(UpstreamTarget target) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(target switch
            {
                { Ready.IsCompleted: false } => HealthCheckResult.Unhealthy("The upstream target is not resolved yet."),
                { UsesSimulator: true } => HealthCheckResult.Healthy("The built-in simulator stands in for the upstream."),
                { HasKey: true } => HealthCheckResult.Healthy("An upstream key is configured."),
                _ => HealthCheckResult.Unhealthy("No upstream key is configured (AimlApi:ApiKey)."),
            });
    }
}

/// <summary>The health answer.</summary>
public sealed record HealthAnswer(string Status, IReadOnlyDictionary<string, HealthEntry> Checks);

/// <summary>One check's result.</summary>
public sealed record HealthEntry(string Status, string? Description);
