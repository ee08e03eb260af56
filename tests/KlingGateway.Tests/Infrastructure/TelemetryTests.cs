using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>
/// What an operator's dashboards see: the gateway's own instruments recorded at the points that matter, and
/// metrics and traces really pushed over OTLP/HTTP, carrying the trace the upstream was called with and never the key.
/// </summary>
public sealed class TelemetryTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Fact]
    public async Task Traffic_IsRecordedOnTheGatewaysInstruments()
    {
        await using var host = gateway.WithWebHostBuilder(_ => { });
        var client = host.CreateClient();
        using var recorder = new Recorder(host.Services.GetRequiredService<IMeterFactory>());

        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V21Standard));
        var id = created.GetProperty("id").GetString()!;
        Assert.Equal("succeeded", (await GatewayFactory.WaitUntilFinishedAsync(client, id)).GetProperty("status").GetString());
        await client.GetAsync($"/v1/generations/{id}");
        var refused = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V1Pro, "create=429"));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var invalid = Bodies.Minimal(Bodies.V1Pro);
        invalid["duration"] = "7";
        invalid["made_up_field"] = 1;
        invalid["camera_control"] = new { type = "simple", config = new { zoom = 12 } };
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsJsonAsync("/v1/generations", invalid)).StatusCode);

        Assert.Equal(1, recorder.Sum("kling_gateway.generation.creates", ("model", Bodies.V21Standard), ("outcome", "started")));
        Assert.Equal(1, recorder.Sum("kling_gateway.generation.creates", ("model", Bodies.V1Pro), ("outcome", "rate_limited")));
        Assert.Equal(1, recorder.Sum("kling_gateway.generation.finished", ("model", Bodies.V21Standard), ("status", "succeeded")));
        Assert.Equal(1, recorder.Sum("kling_gateway.generation.finished", ("model", Bodies.V1Pro), ("status", "failed")));
        // It reached succeeded through at least one upstream refresh; the read after that came from the ledger alone.
        Assert.True(recorder.Sum("kling_gateway.generation.status_reads", ("answered_from", "refresh")) >= 1);
        Assert.True(recorder.Sum("kling_gateway.generation.status_reads", ("answered_from", "ledger")) >= 1);
        Assert.Equal(1, recorder.Count("kling_gateway.upstream.duration", ("operation", "create"), ("outcome", "ok")));
        Assert.Equal(1, recorder.Count("kling_gateway.upstream.duration", ("operation", "create"), ("outcome", "rate_limited")));
        Assert.True(recorder.Count("kling_gateway.upstream.duration", ("operation", "fetch"), ("outcome", "ok"), ("route_family", "universal")) >= 1);
        Assert.Equal(1, recorder.Sum("kling_gateway.validation.rejected_fields", ("field", "duration")));
        Assert.Equal(1, recorder.Sum("kling_gateway.validation.rejected_fields", ("field", "camera_control")));
        Assert.Equal(1, recorder.Sum("kling_gateway.validation.rejected_fields", ("field", "(unknown)")));
    }

    [Theory]
    [InlineData("duration", "duration")]
    [InlineData("camera_control.config.zoom", "camera_control")]
    [InlineData("dynamic_masks[0].trajectories[3].x", "dynamic_masks")]
    [InlineData("made_up_field", "(unknown)")]
    [InlineData("made_up.nested", "(unknown)")]
    public void RejectedFieldTag_IsTheTopLevelCatalogFieldOrUnknown(string path, string tag) =>
        Assert.Equal(tag, GatewayMetrics.TopLevelField(path));

    [Fact]
    public async Task OtlpEndpoint_ReceivesTracesAndMetricsThatFollowTheUpstreamCallAndNeverCarryTheKey()
    {
        var received = new ConcurrentQueue<(string Path, string? ContentType, byte[] Body)>();
        await using var collector = await LoopbackServer.StartAsync(async http =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            received.Enqueue((http.Request.Path.Value!, http.Request.ContentType, body.ToArray()));
            http.Response.StatusCode = StatusCodes.Status200OK;
        });
        var host = gateway.WithWebHostBuilder(b => b.UseSetting("Telemetry:OtlpEndpoint", collector.Address));
        var client = host.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V2Master, "queued=0,generating=0"));
        await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);

        // Stopping the host flushes both providers, so nothing here waits on an export interval.
        await host.DisposeAsync();

        var upstreamCreate = gateway.Simulator.Requests.Last(r => r.Method == "POST" && r.Body.Contains(Bodies.V2Master, StringComparison.Ordinal));
        var traceId = Convert.FromHexString(upstreamCreate.Headers["traceparent"].Split('-')[1]);

        // The exporters' last posts can still be in the collector's hands when the host has stopped: wait (bounded)
        // until the span of this create has arrived, then judge everything received.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline &&
               !(received.Any(r => r.Path == "/v1/traces" && Contains(r.Body, "generation create") && r.Body.AsSpan().IndexOf(traceId) >= 0) &&
                 received.Any(r => r.Path == "/v1/metrics" && Contains(r.Body, "http.client.request.duration"))))
        {
            await Task.Delay(50);
        }

        var traces = received.Where(r => r.Path == "/v1/traces").ToList();
        var metrics = received.Where(r => r.Path == "/v1/metrics").ToList();
        Assert.NotEmpty(traces);
        Assert.NotEmpty(metrics);
        Assert.All(received, r => Assert.Equal("application/x-protobuf", r.ContentType));
        Assert.Contains(traces, r => Contains(r.Body, "generation create") && r.Body.AsSpan().IndexOf(traceId) >= 0);
        Assert.Contains(traces, r => Contains(r.Body, "Microsoft.AspNetCore") && Contains(r.Body, "System.Net.Http"));
        foreach (var instrument in new[]
        {
            "kling_gateway.generation.creates", "kling_gateway.upstream.duration", "kling_gateway.generation.status_reads",
            "http.server.request.duration", "http.client.request.duration",
        })
        {
            Assert.Contains(metrics, r => Contains(r.Body, instrument));
        }

        Assert.All(received, r => Assert.False(Contains(r.Body, GatewayFactory.UpstreamKey), $"{r.Path} carried the key"));
    }

    [Fact]
    public async Task Spans_NameTheRouteMethodAndStatus_OfEachRequestAndOfTheUpstreamCallBeneathIt()
    {
        var spans = new SpanCollection();
        await using var host = gateway.WithWebHostBuilder(b => b.ConfigureServices(services =>
            // A host that exports its spans (here to memory) records them, as one with an OTLP endpoint does.
            services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.SetSampler(new AlwaysOnSampler()).AddInMemoryExporter(spans))));
        var client = host.CreateClient();

        var answer = await client.PostAsJsonAsync("/v1/generations", Bodies.Minimal(Bodies.V2Master, "queued=3600"));
        Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);
        var id = (await answer.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()!;
        // With no X-Client-Request-Id of its own, the caller is given the request's trace id: it finds this test's spans
        // among those of other tests running in the same process.
        var createTrace = answer.Headers.GetValues("X-Client-Request-Id").Single();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);

        // Reads until one is due to refresh from the upstream (a read within the refresh interval is answered from the
        // ledger), bounded; a server span ends just after its answer is sent, so spans are awaited the same way.
        bool IsCreate(Activity span) =>
            span.Kind == ActivityKind.Server && span.TraceId.ToHexString() == createTrace && Tag(span, "url.path") == "/v1/generations";
        bool IsRead(Activity span) => span.Kind == ActivityKind.Server && Tag(span, "url.path") == $"/v1/generations/{id}";
        bool IsFetch(Activity span) => span.Kind == ActivityKind.Client && Tag(span, "http.request.method") == "GET";
        bool Refreshed(Activity read) => spans.Any(s => IsFetch(s) && s.TraceId == read.TraceId);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline && !(spans.Any(IsCreate) && spans.Any(s => IsRead(s) && Refreshed(s))))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/generations/{id}")).StatusCode);
            await Task.Delay(60);
        }

        // The route is the endpoint's template (the group's "/v1/generations" and its "/"), never the raw path.
        var create = Assert.Single(spans, IsCreate);
        Assert.Equal("POST /v1/generations/", create.DisplayName);
        Assert.Equal("POST", Tag(create, "http.request.method"));
        Assert.Equal("/v1/generations/", Tag(create, "http.route"));
        Assert.Equal(202, TagValue(create, "http.response.status_code"));
        var read = spans.First(s => IsRead(s) && Refreshed(s));
        Assert.Equal("GET /v1/generations/{id}", read.DisplayName);
        Assert.Equal("GET", Tag(read, "http.request.method"));
        Assert.Equal("/v1/generations/{id}", Tag(read, "http.route"));
        Assert.Equal(200, TagValue(read, "http.response.status_code"));
        Assert.DoesNotContain(spans, s => s.Kind == ActivityKind.Server && Tag(s, "url.path")?.StartsWith("/health", StringComparison.Ordinal) == true);

        // The upstream create: a client span under the gateway's own "generation create" span, in the request's trace,
        // whose id is the parent the upstream was told in traceparent.
        var generationCreate = Assert.Single(spans, s => s.Source.Name == GatewayMetrics.Name && s.TraceId == create.TraceId);
        Assert.Equal("generation create", generationCreate.DisplayName);
        Assert.Equal(create.SpanId, generationCreate.ParentSpanId);
        var upstream = Assert.Single(spans, s => s.Kind == ActivityKind.Client && s.ParentSpanId == generationCreate.SpanId);
        Assert.Equal("POST", Tag(upstream, "http.request.method"));
        Assert.Equal(200, TagValue(upstream, "http.response.status_code"));
        Assert.Equal("127.0.0.1", Tag(upstream, "server.address"));
        Assert.Contains("/v2/video/generations", Tag(upstream, "url.full"), StringComparison.Ordinal);
        var sent = gateway.Simulator.Requests.Last(r => r.Method == "POST" && r.Body.Contains(Bodies.V2Master, StringComparison.Ordinal));
        Assert.Equal($"00-{upstream.TraceId}-{upstream.SpanId}-01", sent.Headers["traceparent"]);

        // The status read refreshed from the upstream: a GET client span in the read's trace.
        var fetch = Assert.Single(spans, s => IsFetch(s) && s.TraceId == read.TraceId);
        Assert.Equal(200, TagValue(fetch, "http.response.status_code"));
        Assert.All(spans.Where(s => s.TraceId == create.TraceId || s.TraceId == read.TraceId), s => Assert.DoesNotContain(s.TagObjects, t => t.Value?.ToString()?.Contains(GatewayFactory.UpstreamKey, StringComparison.Ordinal) == true));
    }

    [Theory]
    [InlineData("Telemetry:OtlpEndpoint", "collector:4318", "Telemetry:OtlpEndpoint")]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url", "OTEL_EXPORTER_OTLP_ENDPOINT")]
    [InlineData("Telemetry:OtlpProtocol", "http/json", "Telemetry:OtlpProtocol")]
    public void BadTelemetrySetting_RefusesToStartAndNamesIt(string key, string value, string named)
    {
        using var host = gateway.WithWebHostBuilder(b => b.UseSetting(key, value));

        var failure = Record.Exception(() => host.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains(named, failure.ToString(), StringComparison.Ordinal);
    }

    private static string? Tag(Activity span, string name) => span.GetTagItem(name)?.ToString();

    private static int? TagValue(Activity span, string name) => span.GetTagItem(name) is { } value ? Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture) : null;

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>Collects the gateway's measurements from one host only (its meter factory), so parallel tests do not mix in.</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> _measurements = new();

        public Recorder(IMeterFactory factory)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == GatewayMetrics.Name && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => _measurements.Enqueue((instrument.Name, value, tags.ToArray())));
            _listener.Start();
        }

        public double Sum(string name, params (string Key, string Value)[] tags) => Matching(name, tags).Sum(m => m.Value);

        public int Count(string name, params (string Key, string Value)[] tags) => Matching(name, tags).Count();

        public void Dispose() => _listener.Dispose();

        private IEnumerable<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> Matching(string name, (string Key, string Value)[] tags) =>
            _measurements.Where(m => m.Name == name && tags.All(t => m.Tags.Any(k => k.Key == t.Key && Equals(k.Value, t.Value))));
    }

    /// <summary>The spans an in-memory exporter hands over, safe to read while the exporter adds more.</summary>
    private sealed class SpanCollection : ICollection<Activity>
    {
        private readonly ConcurrentQueue<Activity> _spans = new();

        public int Count => _spans.Count;

        public bool IsReadOnly => false;

        public void Add(Activity item) => _spans.Enqueue(item);

        public void Clear() => _spans.Clear();

        public bool Contains(Activity item) => _spans.Contains(item);

        public void CopyTo(Activity[] array, int arrayIndex) => _spans.CopyTo(array, arrayIndex);

        public bool Remove(Activity item) => throw new NotSupportedException();

        public IEnumerator<Activity> GetEnumerator() => _spans.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
