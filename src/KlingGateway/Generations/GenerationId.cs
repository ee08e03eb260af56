using System.Buffers.Text;
using System.Security.Cryptography;

namespace KlingGateway.Generations;

/// <summary>
/// The gateway's own generation ids: <c>gen_</c> followed by 22 base64url characters of 16 random bytes.
/// </summary>
/// <remarks>
/// The id is the only credential a caller needs to read a generation, so it comes from a cryptographic generator
/// and carries 128 bits: it cannot be guessed or enumerated (docs/upstream.md, "Ids").
/// </remarks>
public static class GenerationId
{
    public const string Prefix = "gen_";

    private const int RandomBytes = 16;

    // 16 bytes are 128 bits; base64url without padding needs ceil(128 / 6) = 22 characters.
    private const int EncodedLength = 22;

    /// <summary>The length of every well-formed id.</summary>
    public const int Length = 4 + EncodedLength;

    /// <summary>A new, unguessable id.</summary>
    public static string New()
    {
        Span<byte> bytes = stackalloc byte[RandomBytes];
        RandomNumberGenerator.Fill(bytes);
        return Prefix + Base64Url.EncodeToString(bytes);
    }

    /// <summary>
    /// The <c>X-Client-Request-Id</c> a generation's create is sent upstream with: the id itself with <c>_</c> written
    /// as <c>.</c>, because the upstream takes only <c>[A-Za-z0-9._:-]</c> (docs/upstream.md, "Routes"), and <c>.</c>
    /// never occurs in an id, so the mapping is one to one and an operator reads the gateway's id straight off the
    /// upstream's usage log. Unique per create, so the usage log's <c>client_request_id</c> tells whether this very
    /// create was billed (docs/upstream.md, "Usage log").
    /// </summary>
    public static string UpstreamRequestId(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return id.Replace('_', '.');
    }

    /// <summary>
    /// The <c>X-Client-Request-Id</c> of a generation's status fetches: its create's with <c>:fetch</c> appended, so a
    /// fetch's row in the usage log is never taken for the create's.
    /// </summary>
    public static string UpstreamFetchRequestId(string id) => UpstreamRequestId(id) + ":fetch";

    /// <summary>
    /// Whether the text has the shape of an id this gateway issues. A cheap check so a junk handle is a 404 without
    /// touching the store; a well-formed id may still be unknown.
    /// </summary>
    public static bool IsWellFormed(string? id)
    {
        if (id is null || id.Length != Length || !id.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in id.AsSpan(Prefix.Length))
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_')
            {
                return false;
            }
        }

        return true;
    }
}
