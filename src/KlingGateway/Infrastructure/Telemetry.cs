using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using KlingGateway.Generations;
using KlingGateway.Models;
using KlingGateway.Upstream;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace KlingGateway.Infrastructure;

/// <summary>
/// The gateway's own instruments, on one meter and one activity source named <see cref="Name"/>. The meter comes
/// from the host's <see cref="IMeterFactory"/>, so each host (and each test host) has its own and a listener can
/// tell them apart. Tag values are bounded: model ids and field names from the catalog, fault kinds, statuses.
/// </summary>
public sealed class GatewayMetrics
{
    public const string Name = "KlingGateway";

    /// <summary>Spans for a generation's create and its status refreshes; the HTTP spans nest under them.</summary>
    public static readonly ActivitySource Source = new(Name);

    private const string UnknownField = "(unknown)";
    private static readonly FrozenDictionary<UpstreamFaultKind, string> FaultNames =
        Enum.GetValues<UpstreamFaultKind>().ToFrozenDictionary(k => k, k => JsonNamingPolicy.SnakeCaseLower.ConvertName(k.ToString()));
    private static readonly FrozenSet<string> CatalogFields = CatalogShapes.AllFields.Select(f => f.Name).ToFrozenSet(StringComparer.Ordinal);

    private readonly Counter<long> _creates;
    private readonly Counter<long> _finished;
    private readonly Counter<long> _statusReads;
    private readonly Histogram<double> _upstreamDuration;
    private readonly Counter<long> _rejectedFields;

    public GatewayMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _creates = meter.CreateCounter<long>("kling_gateway.generation.creates", "{create}",
            "Creates forwarded upstream, by model, route family and outcome (started, or the upstream fault).");
        _finished = meter.CreateCounter<long>("kling_gateway.generation.finished", "{generation}",
            "Generations that reached a terminal status, by model and status.");
        _statusReads = meter.CreateCounter<long>("kling_gateway.generation.status_reads", "{read}",
            "Status reads, by where the answer came from: the ledger alone, or an upstream refresh (shared by concurrent readers).");
        _upstreamDuration = meter.CreateHistogram<double>("kling_gateway.upstream.duration", "s",
            "Duration of one upstream call (each fetch retry counts), by operation, route family and outcome.");
        _rejectedFields = meter.CreateCounter<long>("kling_gateway.validation.rejected_fields", "{field}",
            "Fields that failed validation, by top-level field name; names outside the catalog count as (unknown).");
    }

    /// <summary>Starts the span of a create; the caller disposes it.</summary>
    public static Activity? StartCreate(Generation generation) =>
        Tag(Source.StartActivity("generation create"), generation);

    /// <summary>Starts the span of a status refresh; the caller disposes it.</summary>
    public static Activity? StartRefresh(Generation generation) =>
        Tag(Source.StartActivity("generation refresh"), generation);

    /// <summary>A create's outcome, on the counters and its span.</summary>
    public void Created(Activity? activity, Generation generation, UpstreamFault? fault)
    {
        var outcome = fault is null ? "started" : FaultNames[fault.Kind];
        _creates.Add(1, new("model", generation.Model), new("route_family", generation.RouteFamily), new("outcome", outcome));
        if (fault is not null)
        {
            activity?.SetStatus(ActivityStatusCode.Error, outcome);
            Finished(generation);
        }
    }

    /// <summary>A generation reached a terminal status.</summary>
    public void Finished(Generation generation) =>
        _finished.Add(1, new("model", generation.Model), new("status", generation.Status.ToApiString()));

    /// <summary>A status read answered from the ledger alone (true) or from an upstream refresh (false).</summary>
    public void StatusRead(bool fromLedger) =>
        _statusReads.Add(1, new KeyValuePair<string, object?>("answered_from", fromLedger ? "ledger" : "refresh"));

    /// <summary>One upstream call and how it ended.</summary>
    public void UpstreamCall(string operation, string routeFamily, UpstreamResult result, TimeSpan elapsed) =>
        _upstreamDuration.Record(elapsed.TotalSeconds,
            new("operation", operation), new("route_family", routeFamily),
            new("outcome", result.Fault is { } fault ? FaultNames[fault.Kind] : "ok"));

    /// <summary>
    /// The fields a refused create got wrong. A key is a JSON path as the caller wrote it (<c>camera_control.config.zoom</c>,
    /// <c>dynamic_masks[0].mask</c>); only its top-level name is a tag, and only when the catalog knows it, so a caller
    /// inventing field names cannot grow the metric without bound.
    /// </summary>
    public void ValidationRejected(IEnumerable<string> fieldPaths)
    {
        foreach (var field in fieldPaths.Select(TopLevelField).Distinct(StringComparer.Ordinal))
        {
            _rejectedFields.Add(1, new KeyValuePair<string, object?>("field", field));
        }
    }

    internal static string TopLevelField(string path)
    {
        var end = path.AsSpan().IndexOfAny('.', '[');
        var name = end < 0 ? path : path[..end];
        return CatalogFields.Contains(name) ? name : UnknownField;
    }

    private static Activity? Tag(Activity? activity, Generation generation) => activity?
        .SetTag("kling_gateway.generation.id", generation.Id)
        .SetTag("kling_gateway.model", generation.Model)
        .SetTag("kling_gateway.route_family", generation.RouteFamily);
}

/// <summary>Where metrics and traces are exported. Section <c>Telemetry</c>.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>
    /// The OTLP collector's base URL (e.g. <c>http://otel-collector:4318</c>). Unset: the standard
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>; unset too: nothing is exported (the instruments still exist for
    /// <c>dotnet-counters</c> and listeners).
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>http/protobuf</c> (port 4318; <c>/v1/traces</c> and <c>/v1/metrics</c> are appended) or <c>grpc</c> (port 4317).</summary>
    public string? OtlpProtocol { get; set; }

    /// <summary>The <c>service.name</c> resource attribute. Unset: <c>OTEL_SERVICE_NAME</c>, else <c>kling-gateway</c>.</summary>
    public string? ServiceName { get; set; }

    /// <summary>How often metrics are pushed. The last values are also pushed when the host stops.</summary>
    public TimeSpan MetricExportInterval { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Metrics and traces over OTLP with the OpenTelemetry core packages only (OpenTelemetry.Extensions.Hosting and the
/// instrumentation packages do not restore here, see README "Packages"): the providers are built with
/// <see cref="Sdk"/>, owned by a hosted service, and subscribe by name to the framework's built-in meters and
/// activity sources, which .NET 10 emits without instrumentation packages.
/// </summary>
public static partial class TelemetryExtensions
{
    internal const string HttpProtobuf = "http/protobuf";
    internal const string Grpc = "grpc";

    /// <summary>The meters exported: the gateway's, and the framework's HTTP server, Kestrel, HTTP client and runtime meters.</summary>
    internal static readonly string[] Meters =
        [GatewayMetrics.Name, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http", "System.Runtime"];

    /// <summary>The activity sources exported: the gateway's spans, incoming requests, and upstream calls.</summary>
    internal static readonly string[] Sources = [GatewayMetrics.Name, "Microsoft.AspNetCore", "System.Net.Http"];

    public static IServiceCollection AddGatewayTelemetry(this IServiceCollection services)
    {
        services.AddGatewayMetrics();
        services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section)
            .PostConfigure<IConfiguration>((options, configuration) =>
            {
                // The standard OpenTelemetry variables apply when the gateway's own settings are unset.
                options.OtlpEndpoint = Coalesce(options.OtlpEndpoint, configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
                options.OtlpProtocol = Coalesce(options.OtlpProtocol, configuration["OTEL_EXPORTER_OTLP_PROTOCOL"]) ?? HttpProtobuf;
                options.ServiceName = Coalesce(options.ServiceName, configuration["OTEL_SERVICE_NAME"]) ?? "kling-gateway";
            })
            .Validate(o => o.OtlpEndpoint is null
                    || (Uri.TryCreate(o.OtlpEndpoint, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)),
                "Telemetry:OtlpEndpoint (Telemetry__OtlpEndpoint, or OTEL_EXPORTER_OTLP_ENDPOINT) must be an absolute http(s) URL such as http://otel-collector:4318.")
            .Validate(o => o.OtlpProtocol is HttpProtobuf or Grpc,
                "Telemetry:OtlpProtocol (Telemetry__OtlpProtocol, or OTEL_EXPORTER_OTLP_PROTOCOL) must be 'http/protobuf' or 'grpc'.")
            .Validate(o => o.MetricExportInterval >= TimeSpan.FromSeconds(1) && o.MetricExportInterval <= TimeSpan.FromHours(1),
                "Telemetry:MetricExportInterval must be between 00:00:01 and 01:00:00.")
            .ValidateOnStart();
        services.AddHostedService<TelemetryExporter>();
        return services;
    }

    /// <summary>The instruments alone; each feature that records on them registers them, so it works in a minimal host too.</summary>
    public static IServiceCollection AddGatewayMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        return services;
    }

    private static string? Coalesce(string? first, string? second) =>
        !string.IsNullOrWhiteSpace(first) ? first.Trim() : !string.IsNullOrWhiteSpace(second) ? second.Trim() : null;

    /// <summary>Builds the providers before the server serves and disposes them (flushing the last data) after it stopped.</summary>
    private sealed partial class TelemetryExporter(IOptions<TelemetryOptions> options, IHostEnvironment environment, ILogger<TelemetryExporter> logger)
        : IHostedLifecycleService, IDisposable
    {
        private MeterProvider? _meters;
        private TracerProvider? _tracer;

        public Task StartingAsync(CancellationToken cancellationToken)
        {
            var settings = options.Value;
            if (settings.OtlpEndpoint is not { } endpoint)
            {
                return Task.CompletedTask;
            }

            var protocol = settings.OtlpProtocol == Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            var resource = ResourceBuilder.CreateDefault()
                .AddService(settings.ServiceName!, serviceVersion: typeof(GatewayMetrics).Assembly.GetName().Version?.ToString(),
                    serviceInstanceId: Environment.MachineName)
                .AddAttributes([new("deployment.environment.name", environment.EnvironmentName)]);

            _meters = Sdk.CreateMeterProviderBuilder()
                .SetResourceBuilder(resource)
                .AddMeter(Meters)
                .AddOtlpExporter((exporter, reader) =>
                {
                    Configure(exporter, protocol, endpoint, "v1/metrics");
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)settings.MetricExportInterval.TotalMilliseconds;
                })
                .Build();
            _tracer = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(Sources)
                .AddOtlpExporter(exporter => Configure(exporter, protocol, endpoint, "v1/traces"))
                .Build();
            LogExporting(logger, endpoint, settings.OtlpProtocol!);
            return Task.CompletedTask;
        }

        /// <summary>An explicit endpoint is used as given, so over HTTP the signal's path is appended here (OTLP spec, "OTLP/HTTP").</summary>
        private static void Configure(OtlpExporterOptions exporter, OtlpExportProtocol protocol, string endpoint, string signalPath)
        {
            exporter.Protocol = protocol;
            exporter.Endpoint = protocol == OtlpExportProtocol.HttpProtobuf
                ? new Uri(endpoint.TrimEnd('/') + "/" + signalPath)
                : new Uri(endpoint);
        }

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        /// <summary>After the server has finished its last requests, so their spans and measurements are exported too.</summary>
        public Task StoppedAsync(CancellationToken cancellationToken)
        {
            Dispose();
            return Task.CompletedTask;
        }

        /// <summary>
        /// Once, from whichever comes first: the host's stop, or the container's disposal. A host run by
        /// <c>app.Run()</c> can be stopped from two threads at once (a test host is), so the hand-over is atomic.
        /// </summary>
        public void Dispose()
        {
            Interlocked.Exchange(ref _tracer, null)?.Dispose();
            Interlocked.Exchange(ref _meters, null)?.Dispose();
        }

        [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Exporting metrics and traces to {OtlpEndpoint} over {OtlpProtocol}")]
        private static partial void LogExporting(ILogger logger, string otlpEndpoint, string otlpProtocol);
    }
}
