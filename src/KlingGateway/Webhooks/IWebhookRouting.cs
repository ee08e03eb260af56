namespace KlingGateway.Webhooks;

/// <summary>One place an event is delivered to.</summary>
/// <param name="Target">
/// What the delivery order and the per-endpoint bounds are kept by, within the client: <c>endpoint:{name}</c> for a
/// configured endpoint, <c>callback:{url}</c> for the callback URL a create named.
/// </param>
/// <param name="Endpoint">The configured endpoint's name, or null for a create's callback URL.</param>
/// <param name="Url">Where it goes (a configured endpoint's URL is read again from the settings at each attempt).</param>
public sealed record WebhookRoute(string Target, string? Endpoint, string Url)
{
    public const string EndpointPrefix = "endpoint:";
    public const string CallbackPrefix = "callback:";

    public static WebhookRoute ForEndpoint(string name, string url) => new(EndpointPrefix + name, name, url);

    public static WebhookRoute ForCallback(string url) => new(CallbackPrefix + url, null, url);
}

/// <summary>Which webhooks an event of a client's generation raises, decided as the change is recorded.</summary>
public interface IWebhookRouting
{
    /// <summary>
    /// The endpoints of <paramref name="client"/> that take <paramref name="eventType"/>, and the generation's own
    /// callback URL when it has one and the client's callbacks take the event.
    /// </summary>
    IReadOnlyList<WebhookRoute> RoutesFor(string client, string eventType, string? callbackUrl);

    /// <summary>How long a delivery is retried before it is given up (<c>Webhooks:RetryFor</c>).</summary>
    TimeSpan RetryFor { get; }
}
