using Microsoft.Extensions.Options;

namespace KlingGateway.Events;

/// <summary>The event streams and the event log. Section <c>Events</c>.</summary>
public sealed class EventOptions
{
    public const string Section = "Events";

    /// <summary>
    /// How often a stream with nothing to say sends a comment line, so proxies and load balancers that close idle
    /// connections (nginx's <c>proxy_read_timeout</c> is 60 s by default) keep it open.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The <c>retry:</c> a stream opens with: how long a client waits before it reconnects after the stream ends.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>The most streams one replica holds open at once; past it, a 503 problem with Retry-After.</summary>
    public int MaxSubscribers { get; set; } = 10_000;

    /// <summary>The most streams one client holds open on one replica; past it, a 429 problem with Retry-After.</summary>
    public int MaxSubscribersPerClient { get; set; } = 1_000;

    /// <summary>
    /// How long events (and finished webhook deliveries) are kept: a stream resumed with a <c>Last-Event-ID</c> older
    /// than this is answered with the generation as it is now (one stream) or from the oldest kept event (all generations).
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>Refuses stream settings that could not work, naming them.</summary>
public sealed class EventOptionsValidator : IValidateOptions<EventOptions>
{
    public ValidateOptionsResult Validate(string? name, EventOptions options)
    {
        var failures = new List<string>();
        if (options.HeartbeatInterval < TimeSpan.FromMilliseconds(100) || options.HeartbeatInterval > TimeSpan.FromMinutes(5))
        {
            failures.Add("Events:HeartbeatInterval (Events__HeartbeatInterval) must be between 00:00:00.100 and 00:05:00.");
        }

        if (options.ReconnectDelay < TimeSpan.FromMilliseconds(100) || options.ReconnectDelay > TimeSpan.FromMinutes(1))
        {
            failures.Add("Events:ReconnectDelay (Events__ReconnectDelay) must be between 00:00:00.100 and 00:01:00.");
        }

        if (options.MaxSubscribers is < 1 or > 1_000_000)
        {
            failures.Add("Events:MaxSubscribers (Events__MaxSubscribers) must be between 1 and 1000000.");
        }

        if (options.MaxSubscribersPerClient < 1 || options.MaxSubscribersPerClient > options.MaxSubscribers)
        {
            failures.Add("Events:MaxSubscribersPerClient (Events__MaxSubscribersPerClient) must be between 1 and Events:MaxSubscribers.");
        }

        if (options.Retention < TimeSpan.FromMinutes(1) || options.Retention > TimeSpan.FromDays(90))
        {
            failures.Add("Events:Retention (Events__Retention) must be between 00:01:00 and 90.00:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
