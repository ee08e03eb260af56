using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using KlingGateway.Generations;
using KlingGateway.Models;
using KlingGateway.Upstream;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Npgsql;
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
/// The gateway's OpenTelemetry defaults, in the shape of dotnet/eShop's ServiceDefaults
/// (https://github.com/dotnet/eShop/blob/main/src/eShop.ServiceDefaults/Extensions.cs): one
/// <c>AddOpenTelemetry().WithTracing(...).WithMetrics(...)</c> with the ASP.NET Core, HttpClient, runtime and Npgsql
/// instrumentation and the gateway's own meter and activity source, then an OTLP exporter per signal when an endpoint
/// is configured. Logs stay with Serilog on stdout (not <c>UseOtlpExporter</c>, which would export them too).
/// </summary>
public static partial class TelemetryExtensions
{
    internal const string HttpProtobuf = "http/protobuf";
    internal const string Grpc = "grpc";

    public static WebApplicationBuilder AddGatewayTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section)
            .PostConfigure<IConfiguration>(ApplyStandardVariables)
            .Validate(o => o.OtlpEndpoint is null || IsHttpUrl(o.OtlpEndpoint),
                "Telemetry:OtlpEndpoint (Telemetry__OtlpEndpoint, or OTEL_EXPORTER_OTLP_ENDPOINT) must be an absolute http(s) URL such as http://otel-collector:4318.")
            .Validate(o => o.OtlpProtocol is HttpProtobuf or Grpc,
                "Telemetry:OtlpProtocol (Telemetry__OtlpProtocol, or OTEL_EXPORTER_OTLP_PROTOCOL) must be 'http/protobuf' or 'grpc'.")
            .Validate(o => o.MetricExportInterval >= TimeSpan.FromSeconds(1) && o.MetricExportInterval <= TimeSpan.FromHours(1),
                "Telemetry:MetricExportInterval must be between 00:00:01 and 01:00:00.")
            .ValidateOnStart();

        // The providers are configured here, from the configuration as it stands (settings directory, environment and
        // command line included); the same values are validated at start above, which names a bad one.
        var settings = builder.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        ApplyStandardVariables(settings, builder.Configuration);
        var environment = builder.Environment.EnvironmentName;
        var exporting = settings.OtlpEndpoint is { } endpoint && IsHttpUrl(endpoint) && settings.OtlpProtocol is HttpProtobuf or Grpc;

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(settings.ServiceName!, serviceVersion: typeof(GatewayMetrics).Assembly.GetName().Version?.ToString(),
                    serviceInstanceId: Environment.MachineName)
                .AddAttributes([new("deployment.environment.name", environment)]))
            .WithTracing(tracing => tracing
                // Spans that go nowhere are not recorded (recording costs every request); requests still get a trace
                // id for their log lines and the upstream's traceparent. With an exporter, the caller's sampling
                // decision is followed, and a request without one is sampled.
                .SetSampler(exporting ? new ParentBasedSampler(new AlwaysOnSampler()) : new AlwaysOffSampler())
                .AddSource(GatewayMetrics.Name)
                // Probes every few seconds would bury the requests that matter; they are logged at Debug instead.
                .AddAspNetCoreInstrumentation(options => options.Filter = context => !context.Request.Path.StartsWithSegments("/health"))
                .AddHttpClientInstrumentation()
                .AddNpgsql())
            .WithMetrics(metrics => metrics
                .AddMeter(GatewayMetrics.Name)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddNpgsqlInstrumentation());

        if (exporting)
        {
            builder.AddOpenTelemetryExporters(settings);
        }

        return builder;
    }

    /// <summary>The instruments alone (<see cref="GatewayMetrics"/>), registered once in <c>Program.cs</c>; a test host that runs a
    /// feature on its own registers them too.</summary>
    public static IServiceCollection AddGatewayMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        return services;
    }

    /// <summary>An OTLP exporter per signal (traces, metrics), when an endpoint is configured and well formed.</summary>
    private static void AddOpenTelemetryExporters(this WebApplicationBuilder builder, TelemetryOptions settings)
    {
        var endpoint = settings.OtlpEndpoint!;
        var protocol = settings.OtlpProtocol == Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing =>
            tracing.AddOtlpExporter(exporter => Configure(exporter, protocol, endpoint, "v1/traces")));
        builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddOtlpExporter((exporter, reader) =>
        {
            Configure(exporter, protocol, endpoint, "v1/metrics");
            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)settings.MetricExportInterval.TotalMilliseconds;
        }));
        builder.Services.AddHostedService<ExportAnnouncement>();
    }

    /// <summary>An explicit endpoint is used as given, so over HTTP the signal's path is appended here (OTLP spec, "OTLP/HTTP").</summary>
    private static void Configure(OtlpExporterOptions exporter, OtlpExportProtocol protocol, string endpoint, string signalPath)
    {
        exporter.Protocol = protocol;
        exporter.Endpoint = protocol == OtlpExportProtocol.HttpProtobuf
            ? new Uri(endpoint.TrimEnd('/') + "/" + signalPath)
            : new Uri(endpoint);
    }

    /// <summary>The standard OpenTelemetry variables apply when the gateway's own settings are unset.</summary>
    private static void ApplyStandardVariables(TelemetryOptions options, IConfiguration configuration)
    {
        options.OtlpEndpoint = Coalesce(options.OtlpEndpoint, configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        options.OtlpProtocol = Coalesce(options.OtlpProtocol, configuration["OTEL_EXPORTER_OTLP_PROTOCOL"]) ?? HttpProtobuf;
        options.ServiceName = Coalesce(options.ServiceName, configuration["OTEL_SERVICE_NAME"]) ?? "kling-gateway";
    }

    private static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    private static string? Coalesce(string? first, string? second) =>
        !string.IsNullOrWhiteSpace(first) ? first.Trim() : !string.IsNullOrWhiteSpace(second) ? second.Trim() : null;

    /// <summary>Says once, at start, where metrics and traces go.</summary>
    private sealed partial class ExportAnnouncement(IOptions<TelemetryOptions> options, ILogger<ExportAnnouncement> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            LogExporting(logger, options.Value.OtlpEndpoint!, options.Value.OtlpProtocol!);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Exporting metrics and traces to {OtlpEndpoint} over {OtlpProtocol}")]
        private static partial void LogExporting(ILogger logger, string otlpEndpoint, string otlpProtocol);
    }
}
