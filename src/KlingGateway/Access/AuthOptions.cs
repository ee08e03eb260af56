using System.Globalization;
using KlingGateway.Generations;
using KlingGateway.Models;
using KlingGateway.Webhooks;
using Microsoft.Extensions.Options;

namespace KlingGateway.Access;

/// <summary>Who may call and how much. Configuration section <c>Auth</c>.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>
    /// Lets callers without credentials in, as the client <c>anonymous</c> with the <see cref="Defaults"/> limits. Off
    /// by default; the zero-config Development run turns it on and says so in its log.
    /// </summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>The frontends, by name: their key hashes, roles and limits (<c>Auth:Clients:{name}</c>).</summary>
    public Dictionary<string, ClientOptions> Clients { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// An optional JSON file with more clients, in the same shape (<c>{"Auth":{"Clients":{...}}}</c>), watched for changes:
    /// keys rotate without a restart. Relative to the content root. Its clients win over same-named ones above.
    /// </summary>
    public string? ClientsFile { get; set; }

    /// <summary>The limits of a client that sets none itself, and of anonymous callers.</summary>
    public ClientLimits Defaults { get; set; } = new()
    {
        RequestsPerMinute = 60,
        MaxInFlight = 10,
        DailyVideoSeconds = 0,
        DailyBudgetUsd = 0,
    };

    /// <summary>USD per video second, by model key (<c>v1_standard</c>, <c>v1_pro</c>, <c>v2_master</c>, <c>v2_1_standard</c>, <c>v2_1_pro</c>).</summary>
    public Dictionary<string, decimal> Prices { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// How long an unfinished generation counts as in flight. The ledger learns that a generation finished only when
    /// someone reads it, so one nobody polls stops counting after this (Kling takes up to about 14 minutes).
    /// </summary>
    public TimeSpan InFlightExpiry { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Company users' JWTs; off unless an authority or a signing key is set.</summary>
    public JwtOptions Jwt { get; set; } = new();

    /// <summary>
    /// The fixed window <see cref="ClientLimits.RequestsPerMinute"/> is counted in: a minute. A shorter one makes the
    /// limits per window instead (tests use one to outlast a window quickly); the RateLimit-Policy header names it.
    /// </summary>
    public TimeSpan RateLimitWindow { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>A client's limits. 0 means no limit; a client's unset limit takes the default's.</summary>
public class ClientLimits
{
    /// <summary>Requests per minute: per replica, or across replicas sharing a Redis (<c>Redis:ConnectionString</c>).</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Generations queued or processing at once, across replicas sharing a ledger.</summary>
    public int? MaxInFlight { get; set; }

    /// <summary>Video seconds per UTC day.</summary>
    public int? DailyVideoSeconds { get; set; }

    /// <summary>USD per UTC day, priced with <see cref="AuthOptions.Prices"/>.</summary>
    public decimal? DailyBudgetUsd { get; set; }
}

/// <summary>One frontend.</summary>
public sealed class ClientOptions : ClientLimits
{
    /// <summary>
    /// Lower-case hex SHA-256 of each key the client may use. Rotation: add the new key's hash, hand out the key,
    /// remove the old hash. Produce one with <c>printf %s "$KEY" | sha256sum</c>.
    /// </summary>
    public List<string> KeyHashes { get; set; } = [];

    /// <summary>Roles; <c>admin</c> sees every client's generations.</summary>
    public List<string> Roles { get; set; } = [];

    /// <summary>Where the client's generations' events are delivered as signed webhooks (<c>Webhooks/</c>).</summary>
    public ClientWebhookOptions? Webhooks { get; set; }
}

/// <summary>JWT bearer tokens from the company's identity provider.</summary>
public sealed class JwtOptions
{
    /// <summary>The identity provider (OpenID Connect discovery), e.g. <c>https://login.example.com/realms/company</c>.</summary>
    public string? Authority { get; set; }

    /// <summary>The audience tokens must be issued for.</summary>
    public string? Audience { get; set; }

    /// <summary>The issuer tokens must carry; with <see cref="Authority"/> it is taken from discovery.</summary>
    public string? Issuer { get; set; }

    /// <summary>
    /// A shared HMAC-SHA256 key (at least 32 bytes) instead of an authority, for tests and local development only:
    /// refused in Production.
    /// </summary>
    public string? SigningKey { get; set; }

    /// <summary>The claim that names the user.</summary>
    public string UserClaim { get; set; } = "sub";

    /// <summary>The client (limits, ownership) a request with a JWT and no client key acts as.</summary>
    public string Client { get; set; } = "users";

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(SigningKey);
}

/// <summary>Refuses settings that could not work, naming them.</summary>
public sealed class AuthOptionsValidator(IHostEnvironment environment) : IValidateOptions<AuthOptions>
{
    public const string AdminRole = "admin";

    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var failures = new List<string>();
        failures.AddRange(ValidateClients(options.Clients, options.Prices, "Auth:Clients"));
        ValidateLimits(options.Defaults, "Auth:Defaults", options.Prices, failures);

        foreach (var (key, price) in options.Prices)
        {
            if (!ModelCatalog.All.Any(m => m.Key == key))
            {
                failures.Add($"Auth:Prices:{key} names no model. Model keys: {string.Join(", ", ModelCatalog.All.Select(m => m.Key))}.");
            }
            else if (price < 0)
            {
                failures.Add($"Auth:Prices:{key} must not be negative.");
            }
        }

        if (options.RateLimitWindow < TimeSpan.FromSeconds(1) || options.RateLimitWindow > TimeSpan.FromHours(1))
        {
            failures.Add("Auth:RateLimitWindow (Auth__RateLimitWindow) must be between 00:00:01 and 01:00:00.");
        }

        if (options.InFlightExpiry <= TimeSpan.Zero)
        {
            failures.Add("Auth:InFlightExpiry must be positive (e.g. 00:30:00).");
        }

        var jwt = options.Jwt;
        if (jwt.Enabled)
        {
            if (!string.IsNullOrWhiteSpace(jwt.Authority)
                && (!Uri.TryCreate(jwt.Authority, UriKind.Absolute, out var authority) || authority.Scheme != Uri.UriSchemeHttps))
            {
                failures.Add("Auth:Jwt:Authority must be an https URL (Auth__Jwt__Authority).");
            }

            if (!string.IsNullOrWhiteSpace(jwt.SigningKey))
            {
                if (environment.IsProduction())
                {
                    failures.Add("Auth:Jwt:SigningKey is for tests and local development only; in Production set Auth:Jwt:Authority.");
                }
                else if (System.Text.Encoding.UTF8.GetByteCount(jwt.SigningKey) < 32)
                {
                    failures.Add("Auth:Jwt:SigningKey must be at least 32 bytes (HMAC-SHA256).");
                }
            }

            if (string.IsNullOrWhiteSpace(jwt.Audience))
            {
                failures.Add("Auth:Jwt:Audience is required when JWTs are accepted (Auth__Jwt__Audience).");
            }

            if (string.IsNullOrWhiteSpace(jwt.UserClaim) || string.IsNullOrWhiteSpace(jwt.Client))
            {
                failures.Add("Auth:Jwt:UserClaim and Auth:Jwt:Client must not be empty.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Checks a set of clients (from configuration or the clients file).</summary>
    public static IEnumerable<string> ValidateClients(
        IReadOnlyDictionary<string, ClientOptions> clients, IReadOnlyDictionary<string, decimal> prices, string where)
    {
        var failures = new List<string>();
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (clientName, client) in clients)
        {
            if (string.Equals(clientName, GenerationOwner.AnonymousClient, StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{where}:{clientName}: the name '{GenerationOwner.AnonymousClient}' is reserved for callers without credentials.");
            }

            foreach (var hash in client.KeyHashes)
            {
                var normalized = hash.Trim().ToLowerInvariant();
                if (normalized.Length != 64 || !normalized.All(char.IsAsciiHexDigit))
                {
                    // The value is not repeated: someone may have pasted a key instead of its hash.
                    failures.Add($"{where}:{clientName}:KeyHashes holds a value that is not a 64-digit hex SHA-256.");
                }
                else if (!owners.TryAdd(normalized, clientName) && owners[normalized] != clientName)
                {
                    failures.Add($"{where}: clients {owners[normalized]} and {clientName} share a key hash.");
                }
            }

            ValidateLimits(client, $"{where}:{clientName}", prices, failures);
            failures.AddRange(WebhookOptionsValidator.ValidateClient(client.Webhooks, $"{where}:{clientName}:Webhooks"));
        }

        return failures;
    }

    private static void ValidateLimits(ClientLimits limits, string where, IReadOnlyDictionary<string, decimal> prices, List<string> failures)
    {
        if (limits.RequestsPerMinute < 0 || limits.MaxInFlight < 0 || limits.DailyVideoSeconds < 0 || limits.DailyBudgetUsd < 0)
        {
            failures.Add($"{where}: limits must not be negative (0 means no limit).");
        }

        if (limits.DailyBudgetUsd > 0)
        {
            var unpriced = ModelCatalog.All.Where(m => !prices.ContainsKey(m.Key)).Select(m => m.Key).ToList();
            if (unpriced.Count > 0)
            {
                failures.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{where}:DailyBudgetUsd needs a price for every model; Auth:Prices lacks {string.Join(", ", unpriced)}."));
            }
        }
    }
}
