using System.Diagnostics;
using Serilog;
using Serilog.Core;
using Serilog.Extensions.Logging;
using Serilog.Events;
using Serilog.Formatting.Json;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Serilog behind <see cref="ILogger{T}"/>: readable lines in Development, one JSON object per line otherwise
/// (<c>Logging:Format</c> = text | json overrides). Extra sinks and levels come from the <c>Serilog</c> section.
/// No static bootstrap logger: each host builds its own, so test hosts never meet a frozen global logger.
/// </summary>
public static class LoggingExtensions
{
    private const string TextTemplate =
        "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}";

    public static WebApplicationBuilder AddGatewayLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        // Serilog's levels decide; Microsoft's own filter would otherwise drop Debug before Serilog sees it.
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        // Built from the final configuration, once the host has every source (test hosts add theirs late).
        builder.Logging.Services.AddSingleton<ILoggerProvider>(services => new SerilogLoggerProvider(
            CreateLogger(services.GetRequiredService<IConfiguration>(), services.GetRequiredService<IHostEnvironment>()),
            dispose: true));
        return builder;
    }

    private static Serilog.Core.Logger CreateLogger(IConfiguration configuration, IHostEnvironment environment)
    {
        var format = configuration["Logging:Format"] ?? (environment.IsDevelopment() ? "text" : "json");
        var logger = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .MinimumLevel.Override("System.Net.Http.HttpClient", LogEventLevel.Warning)
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext()
            .Enrich.With<TraceEnricher>()
            .Enrich.WithMachineName()
            .Enrich.WithProperty("Application", "KlingGateway");

        // Requests hand events to a background writer instead of waiting on the console. It blocks rather than drops
        // when its queue is full (audit events must not be lost), and writes what is queued when the host stops. JSON
        // lines go out in batches, one write for every event waiting (BatchingTextSink); the readable lines of
        // Development keep Serilog's console sink, with its colours.
        if (string.Equals(format, "json", StringComparison.OrdinalIgnoreCase))
        {
            logger = logger.WriteTo.Sink(new BatchingTextSink(new JsonFormatter(renderMessage: true), Console.OpenStandardOutput()));
        }
        else
        {
            logger = logger.WriteTo.Async(
                sink => sink.Console(outputTemplate: TextTemplate, formatProvider: System.Globalization.CultureInfo.InvariantCulture),
                bufferSize: 10_000,
                blockWhenFull: true);
        }

        return logger.CreateLogger();
    }

    /// <summary>One log line per request, written when it ends (outermost middleware).</summary>
    public static IApplicationBuilder UseGatewayRequestLogging(this IApplicationBuilder app) =>
        app.UseMiddleware<RequestLoggingMiddleware>();

    /// <summary>Puts the W3C trace and span ids on every log event, so a line can be found from a trace and back.</summary>
    private sealed class TraceEnricher : ILogEventEnricher
    {
        public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
        {
            if (Activity.Current is { } activity)
            {
                logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("TraceId", activity.TraceId.ToHexString()));
                logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("SpanId", activity.SpanId.ToHexString()));
            }
        }
    }
}
