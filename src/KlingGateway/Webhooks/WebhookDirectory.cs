using KlingGateway.Access;
using Microsoft.Extensions.Options;

namespace KlingGateway.Webhooks;

/// <summary>Where a delivery goes now and what signs it, or why it may not go at all.</summary>
/// <param name="Url">The URL to post to.</param>
/// <param name="Keys">The signing keys (one signature each).</param>
/// <param name="Refusal">Why the delivery may not be sent (an endpoint removed, a callback URL no longer allowed); null when it may.</param>
public sealed record WebhookDestination(Uri? Url, IReadOnlyList<byte[]> Keys, string? Refusal)
{
    public static WebhookDestination Refused(string reason) => new(null, [], reason);
}

/// <summary>
/// The clients' webhook settings as they are now (<c>Auth:Clients:{name}:Webhooks</c>, the watched clients file
/// included): which routes an event takes when it is recorded, whether a create may name a callback URL, and, at each
/// attempt, where a delivery goes and which secrets sign it, so a rotated secret or a moved endpoint applies to
/// deliveries already waiting.
/// </summary>
public sealed class WebhookDirectory(ClientDirectory clients, IOptions<WebhookOptions> options) : IWebhookRouting
{
    public TimeSpan RetryFor => options.Value.RetryFor;

    /// <summary>Whether any client has webhooks configured.</summary>
    public bool AnyConfigured => clients.Options.Clients.Values.Any(c => c.Webhooks is { } w && (w.Endpoints.Count > 0 || w.Callbacks is not null));

    public IReadOnlyList<WebhookRoute> RoutesFor(string client, string eventType, string? callbackUrl)
    {
        if (Settings(client) is not { } webhooks)
        {
            return [];
        }

        var routes = new List<WebhookRoute>(webhooks.Endpoints.Count + 1);
        foreach (var (name, endpoint) in webhooks.Endpoints)
        {
            if (endpoint.Url is { } url && Takes(endpoint.Events, eventType))
            {
                routes.Add(WebhookRoute.ForEndpoint(name, url));
            }
        }

        if (callbackUrl is not null && webhooks.Callbacks is { } callbacks && Takes(callbacks.Events, eventType))
        {
            routes.Add(WebhookRoute.ForCallback(callbackUrl));
        }

        return routes;
    }

    /// <summary>
    /// Whether <paramref name="client"/>'s creates may name <paramref name="url"/> as their callback: an absolute http(s)
    /// URL under one of its <c>Callbacks:AllowedUrls</c>. <paramref name="reason"/> says why not.
    /// </summary>
    public bool IsAllowedCallback(string client, string url, out string reason)
    {
        if (!WebhookUrls.IsAbsoluteHttp(url, out var uri))
        {
            reason = $"Webhook-Url must be an absolute http or https URL of at most {WebhookUrls.MaxLength} characters, without user information or a fragment.";
            return false;
        }

        if (Settings(client)?.Callbacks is not { } callbacks)
        {
            reason = "This client may not name a callback URL: it has no Webhooks:Callbacks:AllowedUrls.";
            return false;
        }

        foreach (var allowed in callbacks.AllowedUrls)
        {
            if (WebhookUrls.IsAbsoluteHttp(allowed, out var prefix) && WebhookUrls.IsUnder(uri!, prefix!))
            {
                reason = "";
                return true;
            }
        }

        reason = "Webhook-Url is not under any of this client's allowed callback URLs: " +
                 string.Join(", ", callbacks.AllowedUrls.Select(WebhookUrls.Redact)) + ".";
        return false;
    }

    /// <summary>Where a delivery to <paramref name="endpoint"/> (null: the callback <paramref name="url"/>) goes now.</summary>
    public WebhookDestination Resolve(string client, string? endpoint, string url)
    {
        var webhooks = Settings(client);
        if (endpoint is not null)
        {
            if (webhooks?.Endpoints.GetValueOrDefault(endpoint) is not { } settings || !WebhookUrls.IsAbsoluteHttp(settings.Url, out var uri))
            {
                return WebhookDestination.Refused($"The endpoint '{endpoint}' is no longer configured for this client.");
            }

            return new WebhookDestination(uri, Keys(settings.Secrets), null);
        }

        if (webhooks?.Callbacks is not { } callbacks || !IsAllowedCallback(client, url, out _))
        {
            return WebhookDestination.Refused("The callback URL is no longer on this client's allowed callback URLs.");
        }

        return new WebhookDestination(new Uri(url), Keys(callbacks.Secrets), null);
    }

    /// <summary>The URL a configured endpoint has now, or null when it has none.</summary>
    public string? EndpointUrl(string client, string endpoint) => Settings(client)?.Endpoints.GetValueOrDefault(endpoint)?.Url;

    private ClientWebhookOptions? Settings(string client) =>
        clients.Options.Clients.TryGetValue(client, out var settings) ? settings.Webhooks : null;

    private static bool Takes(List<string> events, string eventType) =>
        events.Count == 0 || events.Contains(eventType, StringComparer.Ordinal);

    private static List<byte[]> Keys(List<string> secrets)
    {
        var keys = new List<byte[]>(secrets.Count);
        foreach (var secret in secrets)
        {
            if (WebhookSigner.TryParseSecret(secret, out var key))
            {
                keys.Add(key);
            }
        }

        return keys;
    }
}
