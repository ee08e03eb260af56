using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace KlingGateway.Models;

/// <summary>How messages show lists, bad values and near misses.</summary>
public sealed partial class GenerationRequestValidator
{
    /// <summary>Comma-separated list, as messages show allowed values and fields.</summary>
    internal static string Join(IEnumerable<string> values) => string.Join(", ", values);

    /// <summary>At most 40 characters of a bad value, in double quotes for strings; only its start is read.</summary>
    internal static string Quote(JsonElement value)
    {
        const int Limit = 40;
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (value.ValueKind == JsonValueKind.String)
        {
            // Escapes take at most 6 bytes a character, so the first 240 bytes of the raw text hold the first 40.
            raw = raw[1..^1];
            var end = WholePrefix(raw, Limit * 6);
            Span<byte> quoted = stackalloc byte[end + 2];
            quoted[0] = (byte)'"';
            raw[..end].CopyTo(quoted[1..]);
            quoted[^1] = (byte)'"';
            var reader = new Utf8JsonReader(quoted);
            reader.Read();
            var text = reader.GetString()!;
            return text.Length > Limit || end < raw.Length ? $"\"{text[..Math.Min(text.Length, Limit)]}…\"" : $"\"{text}\"";
        }

        var written = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, Limit)]);
        return raw.Length > Limit ? written + "…" : written;
    }

    /// <summary>
    /// The length of the longest start of a JSON string's raw text, at least <paramref name="wanted"/> bytes when there
    /// are that many, that ends on a whole character: no escape (a surrogate pair's two included) or UTF-8 sequence cut.
    /// </summary>
    private static int WholePrefix(ReadOnlySpan<byte> raw, int wanted)
    {
        var i = 0;
        while (i < raw.Length && i < wanted)
        {
            if (raw[i] == (byte)'\\')
            {
                var pair = raw[i + 1] == (byte)'u' && raw.Length >= i + 12 && raw[i + 2] is (byte)'d' or (byte)'D'
                    && raw[i + 3] is (byte)'8' or (byte)'9' or (byte)'a' or (byte)'A' or (byte)'b' or (byte)'B';
                i += raw[i + 1] != (byte)'u' ? 2 : pair ? 12 : 6;
            }
            else if (raw[i] < 0x80)
            {
                i++;
            }
            else
            {
                System.Text.Rune.DecodeFromUtf8(raw[i..], out _, out var consumed);
                i += consumed;
            }
        }

        return Math.Min(i, raw.Length);
    }

    /// <summary>" (did you mean x?)" for a near miss: one name a prefix of the other, or at most two edits apart.</summary>
    internal static string Suggest(string name, IEnumerable<string> candidates)
    {
        if (name.Length > 64)
        {
            return "";
        }

        foreach (var candidate in candidates)
        {
            if ((name.Length >= 3 && candidate.StartsWith(name, StringComparison.OrdinalIgnoreCase))
                || (candidate.Length >= 3 && name.StartsWith(candidate, StringComparison.OrdinalIgnoreCase))
                || EditDistance(name.ToLowerInvariant(), candidate) <= Math.Min(2, candidate.Length / 3))
            {
                return $" (did you mean {candidate}?)";
            }
        }

        return "";
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
