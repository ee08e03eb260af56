using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.RateLimiting;

namespace KlingGateway.Access;

/// <summary>
/// Requests per minute per client: the framework's rate limiter (<c>AddRateLimiter</c>) with a fixed one-minute
/// window partitioned by client name. Limits are per replica; budgets and in-flight limits are the ones shared
/// through the ledger. Answers carry the IETF RateLimit header fields as named in
/// draft-ietf-httpapi-ratelimit-headers-07 and earlier (<c>RateLimit-Limit</c>, <c>RateLimit-Remaining</c>,
/// <c>RateLimit-Reset</c>, <c>RateLimit-Policy</c>), the form most clients and proxies read today.
/// </summary>
public static partial class ClientRateLimiting
{
    public const string PolicyName = "per-client";

    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    public static IServiceCollection AddClientRateLimiting(this IServiceCollection services)
    {
        services.AddSingleton<Limiters>();
        services.AddRateLimiter(options =>
        {
            options.AddPolicy(PolicyName, Partition);
            options.OnRejected = OnRejectedAsync;
        });
        return services;
    }

    /// <summary>Adds the RateLimit fields to every answer of a limited route (after the limiter let the request in).</summary>
    public static IApplicationBuilder UseRateLimitHeaders(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName == PolicyName
            && PartitionKey(context) is { } key
            && context.RequestServices.GetRequiredService<Limiters>().ByKey.TryGetValue(key.Key, out var limiter))
        {
            var remaining = (int)(limiter.GetStatistics()?.CurrentAvailablePermits ?? 0);
            context.Response.OnStarting(() =>
            {
                WriteHeaders(context.Response, key.Limit, remaining, reset: null);
                return Task.CompletedTask;
            });
        }

        return next(context);
    });

    private static RateLimitPartition<string> Partition(HttpContext context)
    {
        if (PartitionKey(context) is not { } key)
        {
            // Unauthenticated requests are refused by authorization; unlimited partitions (limit 0) land here too.
            return RateLimitPartition.GetNoLimiter("unlimited");
        }

        var limiters = context.RequestServices.GetRequiredService<Limiters>().ByKey;
        return RateLimitPartition.Get(key.Key, k => limiters.GetOrAdd(k, _ => new FixedWindowRateLimiter(new FixedWindowRateLimiterOptions
        {
            PermitLimit = key.Limit,
            Window = Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        })));
    }

    private static (string Key, int Limit)? PartitionKey(HttpContext context)
    {
        var name = context.User.FindFirstValue(Caller.ClientClaim);
        if (name is null)
        {
            return null;
        }

        var limit = context.RequestServices.GetRequiredService<ClientDirectory>().Find(name).Limits.RequestsPerMinute;
        return limit <= 0 ? null : (string.Create(CultureInfo.InvariantCulture, $"{name}\n{limit}"), limit);
    }

    private static async ValueTask OnRejectedAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var context = rejected.HttpContext;
        var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter)
            ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
            : (int)Window.TotalSeconds;
        var limit = PartitionKey(context)?.Limit ?? 0;
        var client = context.User.FindFirstValue(Caller.ClientClaim) ?? "";

        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        WriteHeaders(context.Response, limit, 0, seconds);
        AuditLog.RateLimited(context, client, limit);

        var problem = ProblemCatalog.RateLimited.Details(string.Create(CultureInfo.InvariantCulture,
            $"This client may make {limit} requests per minute. Retry after {seconds} s."));
        problem.Extensions["requests_per_minute"] = limit;
        problem.Extensions["retry_after_seconds"] = seconds;
        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = problem,
        });
    }

    /// <summary>
    /// The host's limiters, one per client and limit, so a changed limit takes effect on the next request; kept here
    /// too (the middleware owns its own references) so answers can say what remains. Bounded by the clients and
    /// their limit changes.
    /// </summary>
    private sealed class Limiters
    {
        public ConcurrentDictionary<string, FixedWindowRateLimiter> ByKey { get; } = new(StringComparer.Ordinal);
    }

    private static void WriteHeaders(HttpResponse response, int limit, int remaining, int? reset)
    {
        var headers = response.Headers;
        headers["RateLimit-Limit"] = limit.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Remaining"] = remaining.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Policy"] = string.Create(CultureInfo.InvariantCulture, $"{limit};w={(int)Window.TotalSeconds}");
        if (reset is { } seconds)
        {
            headers["RateLimit-Reset"] = seconds.ToString(CultureInfo.InvariantCulture);
        }
    }
}
