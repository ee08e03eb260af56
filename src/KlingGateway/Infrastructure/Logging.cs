using System.Security.Claims;
using KlingGateway.Access;
using KlingGateway.Generations;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Json;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Serilog behind <see cref="ILogger{T}"/> (Serilog.AspNetCore): readable lines in Development, one JSON object per
/// line otherwise (<c>Logging:Format</c> = text | json overrides). Extra sinks and levels come from the <c>Serilog</c>
/// section. No static bootstrap logger and the static <see cref="Log.Logger"/> left alone: each host builds its own
/// from the container, so test hosts never meet a frozen global logger.
/// </summary>
public static class LoggingExtensions
{
    private const string TextTemplate =
        "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}";

    /// <summary>The request line's template; its properties are listed in the README ("Observability").</summary>
    private const string RequestTemplate = "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0} ms";

    // Stable ids for the request line, shaped as Microsoft.Extensions.Logging's EventId so one filter finds both.
    private static readonly object RequestEvent = new { Id = 100, Name = "HttpRequest" };
    private static readonly object ProbeEvent = new { Id = 101, Name = "HealthProbe" };

    public static WebApplicationBuilder AddGatewayLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        // Built from the final configuration, once the host has every source (test hosts add theirs late).
        builder.Services.AddSerilog(
            (services, logger) => Configure(logger, services.GetRequiredService<IConfiguration>(), services.GetRequiredService<IHostEnvironment>()),
            preserveStaticLogger: true);
        return builder;
    }

    private static void Configure(LoggerConfiguration logger, IConfiguration configuration, IHostEnvironment environment)
    {
        var format = configuration["Logging:Format"] ?? (environment.IsDevelopment() ? "text" : "json");
        // Serilog 4 puts the current Activity's trace and span ids on every event itself; JsonFormatter writes them
        // once, as TraceId and SpanId beside Timestamp.
        logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .MinimumLevel.Override("System.Net.Http.HttpClient", LogEventLevel.Warning)
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext()
            .Enrich.WithMachineName()
            .Enrich.WithProperty("Application", "KlingGateway");

        // Requests hand events to a background writer instead of waiting on the console. It blocks rather than drops
        // when its queue is full (audit events must not be lost; Serilog 4's own batching drops when its queue is
        // full), and writes what is queued when the host stops. JSON lines go out in batches, one write for every
        // event waiting (BatchingTextSink); the readable lines of Development keep Serilog's console sink, with its
        // colours, behind the async wrapper set to block as well.
        if (string.Equals(format, "json", StringComparison.OrdinalIgnoreCase))
        {
            logger.WriteTo.Sink(new BatchingTextSink(new JsonFormatter(renderMessage: true), Console.OpenStandardOutput()));
        }
        else
        {
            logger.WriteTo.Async(
                sink => sink.Console(outputTemplate: TextTemplate, formatProvider: System.Globalization.CultureInfo.InvariantCulture),
                bufferSize: 10_000,
                blockWhenFull: true);
        }
    }

    /// <summary>
    /// One log line per request, written when it ends (outermost middleware): method, path (never the query or any
    /// header), status, elapsed time, the client, and the generation id and model where a handler named them
    /// (<see cref="RequestLog"/>). Health probes log at Debug so they do not drown the rest; an exception that escaped
    /// every handler, or a 500, at Error.
    /// </summary>
    public static IApplicationBuilder UseGatewayRequestLogging(this IApplicationBuilder app) =>
        app.UseSerilogRequestLogging(options =>
        {
            // The host's own logger; left unset, the request line would go to the static Log.Logger.
            options.Logger = app.ApplicationServices.GetRequiredService<Serilog.ILogger>();
            options.MessageTemplate = RequestTemplate;
            options.GetLevel = (context, _, exception) =>
                IsProbe(context) ? LogEventLevel.Debug
                : exception is not null || context.Response.StatusCode == StatusCodes.Status500InternalServerError ? LogEventLevel.Error
                : LogEventLevel.Information;
            options.EnrichDiagnosticContext = (log, context) =>
            {
                log.Set("EventId", IsProbe(context) ? ProbeEvent : RequestEvent, destructureObjects: true);
                if (context.User.FindFirstValue(Caller.ClientClaim) is { } client)
                {
                    log.Set(RequestLog.Client, client);
                }
            };
        });

    private static bool IsProbe(HttpContext context) => context.Request.Path.StartsWithSegments("/health");
}

/// <summary>
/// What a handler adds to its request's log line, through Serilog's <see cref="IDiagnosticContext"/> (a singleton that
/// collects per request): the generation and its model.
/// </summary>
public static class RequestLog
{
    public const string GenerationId = "GenerationId";
    public const string Model = "Model";
    public const string Client = "Client";

    /// <summary>Names the model (a create, before its generation exists).</summary>
    public static void SetModel(this IDiagnosticContext log, string? model)
    {
        if (model is not null)
        {
            log.Set(Model, model);
        }
    }

    /// <summary>Names the generation id a caller asked for, before it is found.</summary>
    public static void SetGenerationId(this IDiagnosticContext log, string id) => log.Set(GenerationId, id);

    /// <summary>Names the generation and its model.</summary>
    public static void SetGeneration(this IDiagnosticContext log, Generation generation)
    {
        log.Set(GenerationId, generation.Id);
        log.Set(Model, generation.Model);
    }
}
