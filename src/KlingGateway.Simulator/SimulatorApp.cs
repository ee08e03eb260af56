using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KlingGateway.Simulator;

/// <summary>Builds the upstream simulator: a real HTTP server that stands in for the AI/ML API.</summary>
public static class SimulatorApp
{
    /// <summary>Requests carry base64 images, so bodies up to 64 MB are accepted (Kestrel's default is 30 MB).</summary>
    public const long MaxRequestBodyBytes = 64L * 1024 * 1024;

    /// <summary>
    /// Builds (does not start) the simulator listening on <paramref name="url"/>; the default binds an
    /// ephemeral loopback port, read back with <see cref="BaseAddress"/> after <c>StartAsync</c>.
    /// </summary>
    /// <remarks>
    /// The builder is the empty one on purpose: the gateway hosts the simulator in its own process, and a
    /// default builder would read the gateway's appsettings and environment (its Kestrel endpoints, its URLs)
    /// and bind where the gateway binds. Only <paramref name="args"/> (e.g. <c>--Logging:LogLevel:Default=Debug</c>)
    /// add configuration.
    /// </remarks>
    public static WebApplication Build(SimulatorOptions options, string url = "http://127.0.0.1:0", string[]? args = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(url);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            Args = args ?? [],
            ApplicationName = typeof(SimulatorApp).Assembly.GetName().Name,
        });
        if (args is { Length: > 0 })
        {
            builder.Configuration.AddCommandLine(args);
        }

        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes);
        builder.WebHost.UseUrls(url);

        builder.Logging.AddSimpleConsole(console => console.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));

        builder.Services.AddRoutingCore();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new UpstreamSettings(options));
        builder.Services.AddSingleton<SimulatorState>();

        var app = builder.Build();
        app.UseUnhandledErrorBody();
        app.UseUpstreamHeaders();
        app.MapUpstream();
        app.MapUsageLog();
        app.MapInspection();
        // Anything else is the upstream's 404 body, whatever the method (NestJS answers 404, not 405).
        app.MapFallback((HttpContext http, TimeProvider time) => UpstreamErrors.Answer(http, StatusCodes.Status404NotFound, Scenario.None, time));
        return app;
    }

    /// <summary>After <c>StartAsync</c>: the bound base address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public static string BaseAddress(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var address = addresses?.FirstOrDefault(a => !a.EndsWith(":0", StringComparison.Ordinal));
        return address?.TrimEnd('/')
            ?? throw new InvalidOperationException("The simulator has no bound address yet: call StartAsync first.");
    }

    /// <summary>An exception becomes the upstream's 500 body rather than an empty answer.</summary>
    private static void UseUnhandledErrorBody(this WebApplication app) => app.Use(async (http, next) =>
    {
        try
        {
            await next(http);
        }
        catch (Exception ex) when (!http.Response.HasStarted && !http.RequestAborted.IsCancellationRequested)
        {
            Log.Unhandled(app.Logger, ex, http.Request.Method, http.Request.Path.Value ?? "/");
            http.Response.Clear();
            var time = http.RequestServices.GetRequiredService<TimeProvider>();
            await UpstreamErrors.Answer(http, StatusCodes.Status500InternalServerError, Scenario.None, time).ExecuteAsync(http);
        }
    });
}
