using System.Diagnostics;
using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace KlingGateway.Access;

/// <summary>
/// Requests per minute per client: the framework's rate limiter (<c>AddRateLimiter</c>) with a policy partitioned by
/// client and limit, counting in <see cref="RequestCounter"/> (per replica, or across replicas through Redis). The
/// framework owns the partition limiters and disposes the idle ones; they hold no count, so a disposed one loses
/// nothing, and nothing here keeps a reference to one. Answers carry the IETF RateLimit header fields as named in
/// draft-ietf-httpapi-ratelimit-headers-07 and earlier (<c>RateLimit-Limit</c>, <c>RateLimit-Remaining</c>,
/// <c>RateLimit-Reset</c>, <c>RateLimit-Policy</c>), the form most clients and proxies read today.
/// </summary>
public static class ClientRateLimiting
{
    public const string PolicyName = "per-client";

    public static IServiceCollection AddClientRateLimiting(this IServiceCollection services)
    {
        services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RedisOptions>, RedisOptionsValidator>();
        services.AddSingleton<RedisRequestCounter>();
        services.AddHostedService(sp => sp.GetRequiredService<RedisRequestCounter>());
        services.AddSingleton<RequestCounter>();
        services.AddRateLimiter(options => options.AddPolicy<ClientLimit, ClientPolicy>(PolicyName));
        return services;
    }

    /// <summary>Adds the RateLimit fields to every answer of a limited route (after the limiter let the request in).</summary>
    public static IApplicationBuilder UseRateLimitHeaders(this IApplicationBuilder app)
    {
        var counter = app.ApplicationServices.GetRequiredService<RequestCounter>();
        return app.Use((context, next) =>
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName == PolicyName
                && ClientPolicy.Key(context) is { } key)
            {
                var remaining = counter.Remaining(key.Client, key.Limit);
                context.Response.OnStarting(() =>
                {
                    WriteHeaders(context.Response, key.Limit, remaining, counter.Window, reset: null);
                    return Task.CompletedTask;
                });
            }

            return next(context);
        });
    }

    private static void WriteHeaders(HttpResponse response, int limit, int remaining, TimeSpan window, int? reset)
    {
        var headers = response.Headers;
        headers["RateLimit-Limit"] = limit.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Remaining"] = remaining.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Policy"] = string.Create(CultureInfo.InvariantCulture, $"{limit};w={(int)window.TotalSeconds}");
        if (reset is { } seconds)
        {
            headers["RateLimit-Reset"] = seconds.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>A partition: one client at one limit, so a changed limit takes effect on the next request.</summary>
    internal readonly record struct ClientLimit(string Client, int Limit);

    /// <summary>The policy: which partition a request falls in, and the 429 problem when it is over its limit.</summary>
    private sealed class ClientPolicy(RequestCounter counter) : IRateLimiterPolicy<ClientLimit>
    {
        public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected => RejectAsync;

        public RateLimitPartition<ClientLimit> GetPartition(HttpContext httpContext) => Key(httpContext) is { } key
            ? RateLimitPartition.Get(key, k => new ClientWindowLimiter(counter, k.Client, k.Limit))
            // Unauthenticated requests are refused by authorization; clients without a limit (0) land here too.
            : RateLimitPartition.GetNoLimiter(default(ClientLimit));

        public static ClientLimit? Key(HttpContext context)
        {
            var name = context.User.FindFirstValue(Caller.ClientClaim);
            if (name is null)
            {
                return null;
            }

            var limit = context.RequestServices.GetRequiredService<ClientDirectory>().Find(name).Limits.RequestsPerMinute;
            return limit <= 0 ? null : new ClientLimit(name, limit);
        }

        private async ValueTask RejectAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
        {
            var context = rejected.HttpContext;
            var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter)
                ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
                : (int)counter.Window.TotalSeconds;
            var limit = Key(context)?.Limit ?? 0;
            var client = context.User.FindFirstValue(Caller.ClientClaim) ?? "";

            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            WriteHeaders(context.Response, limit, 0, counter.Window, seconds);
            AuditLog.RateLimited(context, client, limit);

            var problem = ProblemCatalog.RateLimited.Details(string.Create(CultureInfo.InvariantCulture,
                $"This client may make {limit} requests per {Describe(counter.Window)}. Retry after {seconds} s."));
            problem.Extensions["requests_per_minute"] = limit;
            problem.Extensions["retry_after_seconds"] = seconds;
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = problem,
            });
        }

        private static string Describe(TimeSpan window) => window == TimeSpan.FromMinutes(1)
            ? "minute"
            : string.Create(CultureInfo.InvariantCulture, $"{window.TotalSeconds:0.###} s");
    }

    /// <summary>
    /// One client's limiter, created by the framework for its partition and disposed by it once idle. It holds no
    /// count (the <see cref="RequestCounter"/> does), so the framework may drop it at any time; a request that meets
    /// one being disposed is counted all the same. One permit is one request.
    /// </summary>
    private sealed class ClientWindowLimiter(RequestCounter counter, string client, int limit) : RateLimiter
    {
        private long _lastUsed = Stopwatch.GetTimestamp();

        /// <summary>
        /// Idle since its last request. The framework disposes a partition's limiter once this passes 10 s
        /// (s_idleTimeLimit in https://github.com/dotnet/runtime/blob/main/src/libraries/System.Threading.RateLimiting/src/System/Threading/RateLimiting/DefaultPartitionedRateLimiter.cs)
        /// and creates a new one for the partition's next request.
        /// </summary>
        public override TimeSpan? IdleDuration => Stopwatch.GetElapsedTime(Volatile.Read(ref _lastUsed));

        public override RateLimiterStatistics? GetStatistics() => new() { CurrentAvailablePermits = counter.Remaining(client, limit) };

        /// <summary>
        /// Counts at once when this replica counts alone. With Redis the answer needs a round trip, so this says "not
        /// here": the framework's middleware then calls <see cref="AcquireAsyncCore"/>, as it does for any limiter
        /// that cannot grant a permit without waiting.
        /// </summary>
        protected override RateLimitLease AttemptAcquireCore(int permitCount)
        {
            Touch();
            if (permitCount == 0)
            {
                return counter.Remaining(client, limit) > 0 ? WindowLease.Granted : new WindowLease(false, null);
            }

            return counter.TryCount(client, out var count) ? Lease(count) : new WindowLease(false, null);
        }

        protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
        {
            Touch();
            return permitCount == 0
                ? AttemptAcquireCore(0)
                : Lease(await counter.CountAsync(client, cancellationToken));
        }

        private RateLimitLease Lease(WindowCount count) =>
            count.Count <= limit ? WindowLease.Granted : new WindowLease(false, count.ResetAfter);

        private void Touch() => Volatile.Write(ref _lastUsed, Stopwatch.GetTimestamp());
    }

    /// <summary>A permit granted, or refused with the time until the window resets.</summary>
    private sealed class WindowLease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public static readonly WindowLease Granted = new(true, null);

        private static readonly string[] RetryAfterName = [MetadataName.RetryAfter.Name];

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : RetryAfterName;

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (retryAfter is { } wait && metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = wait;
                return true;
            }

            metadata = null;
            return false;
        }
    }
}
