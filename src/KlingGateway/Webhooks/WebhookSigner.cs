using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace KlingGateway.Webhooks;

/// <summary>
/// Standard Webhooks signing (https://www.standardwebhooks.com/; the specification is spec/standard-webhooks.md in
/// https://github.com/standard-webhooks/standard-webhooks): the signed content is <c>{webhook-id}.{webhook-timestamp}.{body}</c>,
/// signed with HMAC-SHA256 under the secret's bytes (the base64 after <c>whsec_</c>), and sent as
/// <c>webhook-signature: v1,{base64 signature}</c>, one per secret, separated by spaces, so a receiver that holds any one
/// of the secrets verifies it with any Standard Webhooks library unchanged.
/// </summary>
public static class WebhookSigner
{
    public const string SecretPrefix = "whsec_";
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    // The specification's bounds for a symmetric secret: 24 to 64 bytes.
    private const int MinSecretBytes = 24;
    private const int MaxSecretBytes = 64;

    /// <summary>The bytes of a <c>whsec_</c> secret; false for anything else (never says why: the text is a secret).</summary>
    public static bool TryParseSecret(string? secret, out byte[] key)
    {
        key = [];
        var text = secret?.Trim();
        if (text is null || !text.StartsWith(SecretPrefix, StringComparison.Ordinal) || text.Length > 200)
        {
            return false;
        }

        var encoded = text.AsSpan(SecretPrefix.Length);
        Span<byte> bytes = stackalloc byte[MaxSecretBytes + 3];
        if (!Convert.TryFromBase64Chars(encoded, bytes, out var written) || written is < MinSecretBytes or > MaxSecretBytes)
        {
            return false;
        }

        key = bytes[..written].ToArray();
        return true;
    }

    /// <summary>The <c>webhook-signature</c> value: <c>v1,{signature}</c> for each key, space-separated.</summary>
    public static string Sign(string id, long timestamp, ReadOnlySpan<byte> body, IEnumerable<byte[]> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var prefix = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{id}.{timestamp}."));
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return string.Join(' ', keys.Select(key => "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content))));
    }
}

/// <summary>Webhook delivery ids, which are also each webhook's <c>webhook-id</c>: <c>msg_</c> and 22 base64url characters.</summary>
public static class WebhookDeliveryId
{
    public const string Prefix = "msg_";

    public static string New()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Prefix + Base64Url.EncodeToString(bytes);
    }

    public static bool IsWellFormed(string? id) =>
        id is { Length: 26 } && id.StartsWith(Prefix, StringComparison.Ordinal) && Base64Url.IsValid(id.AsSpan(Prefix.Length));
}

/// <summary>The URLs webhooks go to: what is accepted, what matches an allow-list, and how one is shown.</summary>
public static class WebhookUrls
{
    /// <summary>The longest callback URL a create may name.</summary>
    public const int MaxLength = 2048;

    /// <summary>An absolute http or https URL with a host, without user information or a fragment.</summary>
    public static bool IsAbsoluteHttp(string? text, out Uri? uri)
    {
        uri = null;
        if (string.IsNullOrWhiteSpace(text) || text.Length > MaxLength
            || !Uri.TryCreate(text, UriKind.Absolute, out var parsed)
            || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
            || parsed.UserInfo.Length > 0 || parsed.Fragment.Length > 0 || parsed.Host.Length == 0)
        {
            return false;
        }

        uri = parsed;
        return true;
    }

    /// <summary>
    /// Whether <paramref name="candidate"/> is under <paramref name="prefix"/>: the same scheme, host and port, and a path
    /// that is the prefix's path or continues it (at a <c>/</c>, unless the prefix ends with one).
    /// </summary>
    public static bool IsUnder(Uri candidate, Uri prefix)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(prefix);
        if (!string.Equals(candidate.Scheme, prefix.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(candidate.IdnHost, prefix.IdnHost, StringComparison.OrdinalIgnoreCase)
            || candidate.Port != prefix.Port)
        {
            return false;
        }

        var path = candidate.AbsolutePath;
        var allowed = prefix.AbsolutePath;
        return path.StartsWith(allowed, StringComparison.Ordinal)
            && (path.Length == allowed.Length || allowed.EndsWith('/') || path[allowed.Length] == '/');
    }

    /// <summary>The URL as the gateway shows it: scheme, host, port and path; a query may carry a token.</summary>
    public static string Redact(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.GetLeftPart(UriPartial.Path) : "(not a URL)";
}
