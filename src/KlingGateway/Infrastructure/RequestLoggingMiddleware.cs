using System.Diagnostics;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Logs each request once: method, path (never the query or any header), status, elapsed time, trace id, and the
/// generation id and model when the handler named them. Health probes log at Debug so they do not drown the rest.
/// </summary>
internal sealed partial class RequestLoggingMiddleware(RequestDelegate next, ILogger<RequestLoggingMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var log = new RequestLogContext();
        context.Features.Set(log);
        var status = StatusCodes.Status500InternalServerError;
        try
        {
            await next(context);
            status = context.Response.StatusCode;
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var traceId = Activity.Current?.TraceId.ToHexString() ?? context.TraceIdentifier;
            if (context.Request.Path.StartsWithSegments("/health"))
            {
                LogProbe(logger, context.Request.Method, context.Request.Path.Value, status, elapsed);
            }
            else
            {
                LogRequest(logger, context.Request.Method, context.Request.Path.Value, status, elapsed, traceId, log.GenerationId, log.Model);
            }
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information,
        Message = "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {ElapsedMs:0.0} ms (trace {RequestTraceId}, generation {GenerationId}, model {Model})")]
    private static partial void LogRequest(ILogger logger, string requestMethod, string? requestPath, int statusCode, double elapsedMs,
        string requestTraceId, string? generationId, string? model);

    [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {ElapsedMs:0.0} ms")]
    private static partial void LogProbe(ILogger logger, string requestMethod, string? requestPath, int statusCode, double elapsedMs);
}
