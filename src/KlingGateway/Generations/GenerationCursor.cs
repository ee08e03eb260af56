using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace KlingGateway.Generations;

/// <summary>
/// A position in the newest-first list of generations: the next page starts after the generation with this
/// creation time and id. Keyset paging, so rows inserted meanwhile cause neither duplicates nor gaps.
/// </summary>
/// <param name="CreatedAt">The <see cref="Generation.CreatedAt"/> of the last item on the previous page.</param>
/// <param name="Id">The <see cref="Generation.Id"/> of that item; it breaks ties between equal times.</param>
public readonly record struct GenerationCursor(DateTimeOffset CreatedAt, string Id)
{
    // Longest text worth decoding: a version tag, 19 digits of ticks, separators and the id, base64url-encoded.
    private const int MaxEncodedLength = 128;
    private const string Version = "1";
    private const char Separator = '.';

    /// <summary>
    /// The cursor as opaque, URL-safe text (base64url of <c>1.{UTC ticks}.{id}</c>). Callers must treat it as
    /// opaque; the version tag lets the format change later.
    /// </summary>
    public override string ToString()
    {
        var text = string.Create(
            CultureInfo.InvariantCulture, $"{Version}{Separator}{CreatedAt.UtcTicks}{Separator}{Id}");
        return Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>Reads text made by <see cref="ToString"/>; anything else (junk, tampered, truncated) is rejected.</summary>
    public static bool TryParse(string? value, out GenerationCursor cursor)
    {
        cursor = default;
        // TryDecodeFromChars throws on characters outside the alphabet, so the text is checked first.
        if (string.IsNullOrEmpty(value) || value.Length > MaxEncodedLength || !Base64Url.IsValid(value))
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[Base64Url.GetMaxDecodedLength(value.Length)];
        if (!Base64Url.TryDecodeFromChars(value, bytes, out var written))
        {
            return false;
        }

        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true)
                .GetString(bytes[..written]);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        var parts = text.Split(Separator);
        if (parts.Length != 3
            || parts[0] != Version
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            || ticks > DateTimeOffset.MaxValue.UtcTicks
            || !GenerationId.IsWellFormed(parts[2]))
        {
            return false;
        }

        cursor = new GenerationCursor(new DateTimeOffset(ticks, TimeSpan.Zero), parts[2]);
        return true;
    }
}
