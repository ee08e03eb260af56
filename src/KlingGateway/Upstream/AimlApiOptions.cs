using Microsoft.Extensions.Options;

namespace KlingGateway.Upstream;

/// <summary>
/// The AI/ML API upstream: where it is, the server-held key, which route family each model uses, and the
/// timeouts. Section <c>AimlApi</c>; every value can also come from the environment (<c>AimlApi__ApiKey</c>).
/// </summary>
public sealed class AimlApiOptions
{
    public const string Section = "AimlApi";

    /// <summary>The upstream's base URL.</summary>
    public string BaseUrl { get; set; } = "https://api.aimlapi.com";

    /// <summary>The server-held key. Never returned, logged or documented.</summary>
    public string? ApiKey { get; set; }

    /// <summary>A file holding the key (container secrets); used when <see cref="ApiKey"/> is empty.</summary>
    public string? ApiKeyFile { get; set; }

    /// <summary>
    /// Use the built-in upstream simulator instead of the real upstream. Unset means: on in Development when no
    /// key is configured, off otherwise. Setting it true outside Development is refused at start.
    /// </summary>
    public bool? UseSimulator { get; set; }

    /// <summary>The route family models use unless <see cref="RouteFamilies"/> says otherwise: universal or legacy.</summary>
    public string DefaultRouteFamily { get; set; } = UpstreamRouteFamily.Universal;

    /// <summary>Per-model route family, keyed by the catalog's model key (e.g. <c>v2_master</c>): universal or legacy.</summary>
    public Dictionary<string, string> RouteFamilies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>An explicit outbound proxy URL. Unset: the standard HTTPS_PROXY / NO_PROXY variables apply.</summary>
    public string? Proxy { get; set; }

    /// <summary>Time allowed to open a TCP/TLS connection to the upstream.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time allowed for a create (the body may carry several megabytes of images). Never retried.</summary>
    public TimeSpan CreateTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time allowed for one status fetch attempt.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Retries of a status fetch after a transient fault (connect failure, timeout, 500, 502, 503, 504).</summary>
    public int FetchRetries { get; set; } = 2;

    /// <summary>First backoff delay between fetch retries; it doubles each time, with jitter.</summary>
    public TimeSpan FetchRetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Retry-After given to callers when the upstream says 429 or 503 without one.</summary>
    public int DefaultRetryAfterSeconds { get; set; } = 10;

    /// <summary>
    /// The most requests per minute one gateway replica makes to the upstream's usage log (<c>GET /v2/logs</c>), evenly
    /// spaced. The upstream allows about 200 per 60 s per key (docs/upstream.md, "Usage log"); the default leaves room
    /// for other replicas and for people using the same key.
    /// </summary>
    public int UsageLogRequestsPerMinute { get; set; } = 60;

    /// <summary>Lifetime of a pooled upstream connection, so DNS changes are picked up.</summary>
    public TimeSpan PooledConnectionLifetime { get; set; } = TimeSpan.FromMinutes(5);

    public string RouteFamilyFor(string modelKey) =>
        RouteFamilies.TryGetValue(modelKey, out var family) ? family.ToLowerInvariant() : DefaultRouteFamily.ToLowerInvariant();
}

/// <summary>The upstream's two route families (docs/upstream.md, "Routes").</summary>
public static class UpstreamRouteFamily
{
    public const string Universal = "universal";
    public const string Legacy = "legacy";

    public static bool IsValid(string? family) =>
        string.Equals(family, Universal, StringComparison.OrdinalIgnoreCase) ||
        string.Equals(family, Legacy, StringComparison.OrdinalIgnoreCase);

    /// <summary>The create and fetch path of a family.</summary>
    public static string PathOf(string family) =>
        family == Legacy ? "/v2/generate/video/kling/generation" : "/v2/video/generations";
}

/// <summary>
/// Refuses to start with a setting that cannot work, naming the setting. Values are never echoed: a key must
/// not reach a log line through a validation message.
/// </summary>
internal sealed class AimlApiOptionsValidator(IHostEnvironment environment) : IValidateOptions<AimlApiOptions>
{
    public ValidateOptionsResult Validate(string? name, AimlApiOptions options)
    {
        List<string> failures = [];
        var hasKey = !string.IsNullOrWhiteSpace(options.ApiKey) || !string.IsNullOrWhiteSpace(options.ApiKeyFile);

        if (options.UseSimulator == true && !environment.IsDevelopment())
        {
            failures.Add("AimlApi:UseSimulator (AimlApi__UseSimulator) is for Development only; remove it and set AimlApi:ApiKey.");
        }
        else if (!hasKey && !UpstreamTarget.SimulatorWanted(options, environment))
        {
            failures.Add("No upstream key: set AimlApi:ApiKey (environment AimlApi__ApiKey) or AimlApi:ApiKeyFile " +
                         "(AimlApi__ApiKeyFile, a file holding the key).");
        }

        if (!string.IsNullOrWhiteSpace(options.ApiKeyFile) && string.IsNullOrWhiteSpace(options.ApiKey) && !File.Exists(options.ApiKeyFile))
        {
            failures.Add($"AimlApi:ApiKeyFile names a file that does not exist: {options.ApiKeyFile}");
        }

        if (!Uri.TryCreate(options.BaseUrl, UriKind.Absolute, out var baseUrl) || (baseUrl.Scheme != Uri.UriSchemeHttps && baseUrl.Scheme != Uri.UriSchemeHttp))
        {
            failures.Add("AimlApi:BaseUrl (AimlApi__BaseUrl) must be an absolute http(s) URL.");
        }

        if (!string.IsNullOrWhiteSpace(options.Proxy) && !Uri.TryCreate(options.Proxy, UriKind.Absolute, out _))
        {
            failures.Add("AimlApi:Proxy (AimlApi__Proxy) must be an absolute URL such as http://proxy.internal:3128.");
        }

        if (!UpstreamRouteFamily.IsValid(options.DefaultRouteFamily))
        {
            failures.Add("AimlApi:DefaultRouteFamily must be 'universal' or 'legacy'.");
        }

        foreach (var (key, family) in options.RouteFamilies)
        {
            if (Models.ModelCatalog.All.All(m => !string.Equals(m.Key, key, StringComparison.OrdinalIgnoreCase)))
            {
                failures.Add($"AimlApi:RouteFamilies:{key} names no model; use one of {string.Join(", ", Models.ModelCatalog.All.Select(m => m.Key))}.");
            }
            else if (!UpstreamRouteFamily.IsValid(family))
            {
                failures.Add($"AimlApi:RouteFamilies:{key} must be 'universal' or 'legacy'.");
            }
        }

        if (options.ConnectTimeout <= TimeSpan.Zero || options.CreateTimeout <= TimeSpan.Zero || options.FetchTimeout <= TimeSpan.Zero)
        {
            failures.Add("AimlApi:ConnectTimeout, AimlApi:CreateTimeout and AimlApi:FetchTimeout must be positive (e.g. 00:00:30).");
        }

        if (options.FetchRetries is < 0 or > 10)
        {
            failures.Add("AimlApi:FetchRetries must be between 0 and 10.");
        }

        if (options.UsageLogRequestsPerMinute is < 1 or > 200)
        {
            failures.Add("AimlApi:UsageLogRequestsPerMinute (AimlApi__UsageLogRequestsPerMinute) must be between 1 and 200: the upstream allows about 200 usage-log requests per minute per key.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
