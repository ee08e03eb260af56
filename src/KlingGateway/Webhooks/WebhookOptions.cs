using System.Globalization;
using System.Net;
using KlingGateway.Events;
using Microsoft.Extensions.Options;

namespace KlingGateway.Webhooks;

/// <summary>How webhooks are delivered, for every client. Section <c>Webhooks</c>; the endpoints are per client.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>How long a delivery is retried after its event before it is given up (state <c>failed</c>).</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The wait before the first retry; each later one doubles it, with jitter, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Time allowed for one attempt: connecting, sending, and the receiver's answer (its status line and headers).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The most deliveries one replica sends at once, to all endpoints together.</summary>
    public int MaxConcurrentDeliveries { get; set; } = 32;

    /// <summary>
    /// The most deliveries one replica sends at once to one endpoint (a configured endpoint, or one callback URL), so
    /// a slow endpoint holds at most this many of the slots and the others go on.
    /// </summary>
    public int MaxConcurrentPerEndpoint { get; set; } = 4;

    /// <summary>
    /// Address ranges (CIDR, e.g. <c>127.0.0.0/8</c>) a webhook may be sent to although the gateway refuses them by
    /// default: loopback, link-local, the cloud metadata addresses and the like (<see cref="WebhookAddressPolicy"/>).
    /// </summary>
    public List<string> AllowedAddressRanges { get; set; } = [];

    /// <summary>Also refuse the private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) unless allowed above.</summary>
    public bool RefusePrivateAddresses { get; set; }
}

/// <summary>A client's webhooks (<c>Auth:Clients:{name}:Webhooks</c>): its endpoints, and the callback URLs its creates may name.</summary>
public sealed class ClientWebhookOptions
{
    /// <summary>Endpoints by name: each gets every event of the client's generations it takes.</summary>
    public Dictionary<string, WebhookEndpointOptions> Endpoints { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The callback URLs a create may name in its <c>Webhook-Url</c> header; without it, creates may name none.</summary>
    public WebhookCallbackOptions? Callbacks { get; set; }
}

/// <summary>One configured endpoint.</summary>
public sealed class WebhookEndpointOptions
{
    /// <summary>Where the webhooks go: an absolute http(s) URL.</summary>
    public string? Url { get; set; }

    /// <summary>
    /// The signing secrets, <c>whsec_</c> and the base64 of 24 to 64 random bytes. Every one signs each webhook (one
    /// signature each in <c>webhook-signature</c>), so a secret rotates by adding the new one, moving the receiver to it,
    /// and removing the old one.
    /// </summary>
    public List<string> Secrets { get; set; } = [];

    /// <summary>The event names it takes (<see cref="GenerationEventTypes.All"/>); empty takes every event.</summary>
    public List<string> Events { get; set; } = [];
}

/// <summary>The callback URLs a client's creates may name, and how their webhooks are signed.</summary>
public sealed class WebhookCallbackOptions
{
    /// <summary>
    /// URL prefixes (<c>https://hooks.example.com/kling/</c>): a callback URL is accepted when it has the same scheme,
    /// host and port as one of them and its path starts with that one's path.
    /// </summary>
    public List<string> AllowedUrls { get; set; } = [];

    /// <summary>The signing secrets of callback webhooks, as for an endpoint.</summary>
    public List<string> Secrets { get; set; } = [];

    /// <summary>The event names sent to a callback URL; empty sends every event.</summary>
    public List<string> Events { get; set; } = [];
}

/// <summary>Refuses webhook settings that could not work, naming them; never repeats a secret.</summary>
public sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var failures = new List<string>();
        if (options.RetryFor < TimeSpan.FromMinutes(1) || options.RetryFor > TimeSpan.FromDays(7))
        {
            failures.Add("Webhooks:RetryFor (Webhooks__RetryFor) must be between 00:01:00 and 7.00:00:00.");
        }

        if (options.FirstRetryDelay < TimeSpan.FromMilliseconds(10) || options.FirstRetryDelay > TimeSpan.FromHours(1))
        {
            failures.Add("Webhooks:FirstRetryDelay (Webhooks__FirstRetryDelay) must be between 00:00:00.010 and 01:00:00.");
        }

        if (options.MaxRetryDelay < options.FirstRetryDelay || options.MaxRetryDelay > TimeSpan.FromDays(1))
        {
            failures.Add("Webhooks:MaxRetryDelay (Webhooks__MaxRetryDelay) must be at least Webhooks:FirstRetryDelay and at most 1.00:00:00.");
        }

        if (options.Timeout < TimeSpan.FromMilliseconds(100) || options.Timeout > TimeSpan.FromMinutes(5))
        {
            failures.Add("Webhooks:Timeout (Webhooks__Timeout) must be between 00:00:00.100 and 00:05:00.");
        }

        if (options.MaxConcurrentDeliveries is < 1 or > 1024)
        {
            failures.Add("Webhooks:MaxConcurrentDeliveries (Webhooks__MaxConcurrentDeliveries) must be between 1 and 1024.");
        }

        if (options.MaxConcurrentPerEndpoint < 1 || options.MaxConcurrentPerEndpoint > options.MaxConcurrentDeliveries)
        {
            failures.Add("Webhooks:MaxConcurrentPerEndpoint (Webhooks__MaxConcurrentPerEndpoint) must be between 1 and Webhooks:MaxConcurrentDeliveries.");
        }

        for (var i = 0; i < options.AllowedAddressRanges.Count; i++)
        {
            if (!IPNetwork.TryParse(options.AllowedAddressRanges[i]?.Trim(), out _))
            {
                failures.Add(string.Create(CultureInfo.InvariantCulture,
                    $"Webhooks:AllowedAddressRanges:{i} (Webhooks__AllowedAddressRanges__{i}) must be an address range in CIDR notation, such as 127.0.0.0/8 or ::1/128."));
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Checks one client's webhooks (<c>{where}</c> is <c>Auth:Clients:{name}:Webhooks</c>).</summary>
    public static IEnumerable<string> ValidateClient(ClientWebhookOptions? webhooks, string where)
    {
        if (webhooks is null)
        {
            yield break;
        }

        foreach (var (endpoint, settings) in webhooks.Endpoints)
        {
            var at = $"{where}:Endpoints:{endpoint}";
            if (endpoint.Length is 0 or > 64 || !endpoint.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                yield return $"{at}: an endpoint's name is 1 to 64 letters, digits, '-', '_' or '.'.";
            }

            if (!WebhookUrls.IsAbsoluteHttp(settings.Url, out _))
            {
                yield return $"{at}:Url must be an absolute http or https URL without user information or a fragment.";
            }

            foreach (var failure in ValidateSecrets(settings.Secrets, $"{at}:Secrets"))
            {
                yield return failure;
            }

            foreach (var failure in ValidateEvents(settings.Events, $"{at}:Events"))
            {
                yield return failure;
            }
        }

        if (webhooks.Callbacks is { } callbacks)
        {
            var at = $"{where}:Callbacks";
            if (callbacks.AllowedUrls.Count == 0)
            {
                yield return $"{at}:AllowedUrls must name at least one URL prefix (https://hooks.example.com/kling/).";
            }

            for (var i = 0; i < callbacks.AllowedUrls.Count; i++)
            {
                if (!WebhookUrls.IsAbsoluteHttp(callbacks.AllowedUrls[i], out var prefix) || prefix!.Query.Length > 0)
                {
                    yield return string.Create(CultureInfo.InvariantCulture,
                        $"{at}:AllowedUrls:{i} must be an absolute http or https URL prefix without user information, query or fragment.");
                }
            }

            foreach (var failure in ValidateSecrets(callbacks.Secrets, $"{at}:Secrets"))
            {
                yield return failure;
            }

            foreach (var failure in ValidateEvents(callbacks.Events, $"{at}:Events"))
            {
                yield return failure;
            }
        }
    }

    private static IEnumerable<string> ValidateSecrets(List<string> secrets, string at)
    {
        if (secrets.Count == 0)
        {
            yield return $"{at} must hold at least one secret: whsec_ followed by the base64 of 24 to 64 random bytes.";
        }

        for (var i = 0; i < secrets.Count; i++)
        {
            // The value is never repeated: it is a secret, and a wrong one may be a right one pasted into the wrong place.
            if (!WebhookSigner.TryParseSecret(secrets[i], out _))
            {
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"{at}:{i} is not a webhook secret: whsec_ followed by the base64 of 24 to 64 random bytes (https://www.standardwebhooks.com/).");
            }
        }
    }

    private static IEnumerable<string> ValidateEvents(List<string> events, string at)
    {
        for (var i = 0; i < events.Count; i++)
        {
            if (!GenerationEventTypes.All.Contains(events[i], StringComparer.Ordinal))
            {
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"{at}:{i} names no event; events: {string.Join(", ", GenerationEventTypes.All)}.");
            }
        }
    }
}
