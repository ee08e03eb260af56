namespace KlingGateway.Simulator;

/// <summary>The simulator's log lines, with stable event ids. The key and image data are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "Upstream simulator listening on {Addresses}")]
    public static partial void Listening(ILogger logger, string addresses);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Debug, Message = "Simulator directive ignored: {Key}={Value}")]
    public static partial void DirectiveIgnored(ILogger logger, string key, string value);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Debug, Message = "Simulated generation {GenerationId} created for {Model} on the {Family} route")]
    public static partial void Created(ILogger logger, string generationId, string model, RouteFamily family);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Debug, Message = "Simulated {Status} answer on {Method} {Path}")]
    public static partial void Failing(ILogger logger, int status, string method, string path);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Debug, Message = "The caller went away during a simulated delay on {Path}")]
    public static partial void CallerGone(ILogger logger, string path);

    [LoggerMessage(EventId = 9006, Level = LogLevel.Error, Message = "Unhandled simulator error on {Method} {Path}")]
    public static partial void Unhandled(ILogger logger, Exception exception, string method, string path);
}
