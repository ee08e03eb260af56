using System.Net;
using Microsoft.Extensions.Options;

namespace KlingGateway.Upstream;

public static class UpstreamServiceCollectionExtensions
{
    /// <summary>The typed upstream client, its key handler, options validated at start, and the simulator switch.</summary>
    public static IServiceCollection AddUpstream(this IServiceCollection services)
    {
        services.AddOptions<AimlApiOptions>().BindConfiguration(AimlApiOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AimlApiOptions>, AimlApiOptionsValidator>();
        services.AddSingleton<UpstreamTarget>();
        services.AddHostedService(sp => sp.GetRequiredService<UpstreamTarget>());
        services.AddSingleton<UpstreamRetryPipeline>();
        services.AddSingleton<UpstreamFaultMapper>();
        services.AddTransient<UpstreamAuthHandler>();

        services.AddHttpClient<AimlApiClient>(http =>
            {
                // Timeouts are per operation (AimlApiOptions), not one blanket HttpClient timeout.
                http.Timeout = Timeout.InfiniteTimeSpan;
                http.DefaultRequestHeaders.UserAgent.ParseAdd("KlingGateway/1.0");
            })
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var settings = sp.GetRequiredService<IOptions<AimlApiOptions>>().Value;
                // Configured as YARP configures its forwarder's handler: no cookies, no redirects, no automatic
                // decompression, pooled connections with a lifetime, an explicit connect timeout.
                return new SocketsHttpHandler
                {
                    UseCookies = false,
                    AllowAutoRedirect = false,
                    AutomaticDecompression = DecompressionMethods.None,
                    PooledConnectionLifetime = settings.PooledConnectionLifetime,
                    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
                    ConnectTimeout = settings.ConnectTimeout,
                    EnableMultipleHttp2Connections = true,
                    // Unset: HttpClient.DefaultProxy, which honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
                    Proxy = string.IsNullOrWhiteSpace(settings.Proxy) ? null : new WebProxy(settings.Proxy),
                    UseProxy = true,
                };
            })
            .AddHttpMessageHandler<UpstreamAuthHandler>()
            // The factory's logging handlers open a logging scope per call for events the gateway filters out anyway
            // (System.Net.Http.HttpClient is at Warning); AimlApiClient logs the faults that matter itself.
            .RemoveAllLoggers()
            // The handler chain holds no per-request state; the pooled handler lives as long as the app.
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);

        return services;
    }
}
