using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace KlingGateway.Models;

/// <summary>
/// Checks that every string of a JSON body (values and property names) is text: valid UTF-8 with no unpaired
/// UTF-16 surrogate escape. <see cref="JsonDocument"/> checks neither while it parses; reading such a string later
/// throws (RFC 8259, section 8.1: JSON text is UTF-8; section 8.2: an unpaired surrogate has unpredictable
/// behaviour). The whole body is checked once, vectorized, before any field is read; only a body that fails is
/// walked again, to name the JSON path of each bad string.
/// </summary>
internal static class JsonText
{
    /// <summary>Longest property name shown in a path; longer ones are cut and end in "…".</summary>
    public const int MaxNameInPath = 64;

    /// <summary>Whether every string of an already parsed JSON body is valid text.</summary>
    public static bool IsValid(ReadOnlySpan<byte> json) => Utf8.IsValid(json) && LoneSurrogateEscape(json) is null;

    /// <summary>
    /// The JSON path of each string that is not valid text, with what is wrong, at most <paramref name="limit"/> of
    /// them. Call only for a body <see cref="JsonDocument"/> parsed (so it is well formed, at most 32 deep).
    /// </summary>
    public static List<KeyValuePair<string, string>> Faults(ReadOnlySpan<byte> json, int limit)
    {
        var faults = new List<KeyValuePair<string, string>>();
        var frames = new Frame[33];
        var depth = 0;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        while (faults.Count < limit && reader.Read())
        {
            var token = reader.TokenType;
            if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                depth--;
                continue;
            }

            if (token != JsonTokenType.PropertyName && depth > 0 && frames[depth - 1].IsArray)
            {
                frames[depth - 1].Index++;
            }

            if (token is JsonTokenType.PropertyName or JsonTokenType.String)
            {
                var start = (int)reader.TokenStartIndex + 1;
                var fault = Fault(reader.ValueSpan, reader.ValueIsEscaped, start);
                if (token == JsonTokenType.PropertyName)
                {
                    frames[depth - 1].NameStart = start;
                    frames[depth - 1].NameLength = reader.ValueSpan.Length;
                    if (fault is not null)
                    {
                        faults.Add(new(Path(json, frames, depth, withName: false), $"has a property name that {fault}"));
                        frames[depth - 1].NameLength = -1;
                    }
                }
                else if (fault is not null)
                {
                    faults.Add(new(Path(json, frames, depth, withName: true), fault));
                }
            }
            else if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                frames[depth++] = new Frame { IsArray = token == JsonTokenType.StartArray, Index = -1 };
            }
        }

        return faults;
    }

    /// <summary>
    /// The most JSON tokens (values, property names and ends) a create body may hold. The largest valid one holds about
    /// 3,000: a dozen fields and 6 dynamic masks of 77 points (docs/upstream.md, "Validation"). The bound keeps the
    /// parser's index small: <see cref="JsonDocument"/> takes 12 bytes for each token, so a 48 MB body of
    /// <c>[0,0,0,...]</c> would otherwise cost more than half a gigabyte before a single rule was checked.
    /// </summary>
    public const int MaxTokens = 10_000;

    /// <summary>
    /// Null when the body holds at most <paramref name="maxTokens"/> tokens; otherwise the container with the most items
    /// or members (its JSON path, count and kind) and the body's token count. One pass of a reader, no allocation but
    /// the paths of the largest containers; a malformed body is left to the parser, unless it is too large before its fault.
    /// </summary>
    public static (string Path, long Children, bool IsArray, long Tokens)? Oversized(ReadOnlySpan<byte> json, int maxTokens)
    {
        var frames = new Frame[33];
        var depth = 0;
        long tokens = 0;
        (string Path, long Children, bool IsArray)? largest = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 32 });
        try
        {
            while (reader.Read())
            {
                tokens++;
                var token = reader.TokenType;
                if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    depth--;
                    Consider(json, frames, depth, ref largest);
                    continue;
                }

                if (token == JsonTokenType.PropertyName)
                {
                    frames[depth - 1].Index++;
                    frames[depth - 1].NameStart = (int)reader.TokenStartIndex + 1;
                    frames[depth - 1].NameLength = reader.ValueSpan.Length;
                    continue;
                }

                if (depth > 0 && frames[depth - 1].IsArray)
                {
                    frames[depth - 1].Index++;
                }

                if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    frames[depth++] = new Frame { IsArray = token == JsonTokenType.StartArray, Index = -1 };
                }
            }
        }
        catch (JsonException)
        {
            // Malformed: the containers still open count as they stand.
            while (depth > 0)
            {
                depth--;
                Consider(json, frames, depth, ref largest);
            }
        }

        return tokens <= maxTokens ? null : largest is { } most ? (most.Path, most.Children, most.IsArray, tokens) : ("$", 0, false, tokens);
    }

    /// <summary>Keeps the container just closed (at <paramref name="depth"/>) when it has more children than the largest so far.</summary>
    private static void Consider(ReadOnlySpan<byte> json, Frame[] frames, int depth, ref (string Path, long Children, bool IsArray)? largest)
    {
        var closed = frames[depth];
        var children = closed.Index + 1L;
        if (largest is null || children > largest.Value.Children)
        {
            largest = (Path(json, frames, depth, withName: true), children, closed.IsArray);
        }
    }

    private static string? Fault(ReadOnlySpan<byte> raw, bool escaped, int start)
    {
        if (!Utf8.IsValid(raw))
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"is not valid UTF-8 text: it holds an invalid byte sequence at byte {start + FirstInvalid(raw) + 1} of the body. Send the body encoded as UTF-8.");
        }

        return escaped && LoneSurrogateEscape(raw) is { } at
            ? string.Create(CultureInfo.InvariantCulture,
                $"is not valid text: the \\u escape at byte {start + at + 1} of the body is an unpaired UTF-16 surrogate.")
            : null;
    }

    /// <summary>Offset of the first byte that does not start a valid UTF-8 sequence.</summary>
    private static int FirstInvalid(ReadOnlySpan<byte> raw)
    {
        var offset = 0;
        while (offset < raw.Length)
        {
            if (Rune.DecodeFromUtf8(raw[offset..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return offset;
    }

    /// <summary>
    /// Offset of a <c>\uD800</c>..<c>\uDFFF</c> escape not forming a pair, or null. Call on a parsed body or on the
    /// raw text of one string, where every backslash starts an escape; a vectorized search skips the text between them.
    /// </summary>
    public static int? LoneSurrogateEscape(ReadOnlySpan<byte> json)
    {
        var i = 0;
        while (true)
        {
            var next = json[i..].IndexOf((byte)'\\');
            if (next < 0)
            {
                return null;
            }

            i += next;
            if (json[i + 1] != (byte)'u')
            {
                i += 2;
                continue;
            }

            var unit = Hex4(json.Slice(i + 2, 4));
            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                if (json.Length >= i + 12 && json[i + 6] == (byte)'\\' && json[i + 7] == (byte)'u'
                    && Hex4(json.Slice(i + 8, 4)) is >= 0xDC00 and <= 0xDFFF)
                {
                    i += 12;
                    continue;
                }

                return i;
            }

            if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                return i;
            }

            i += 6;
        }
    }

    private static int Hex4(ReadOnlySpan<byte> digits) => Utf8Parser.TryParse(digits, out int unit, out _, 'X') ? unit : -1;

    /// <summary>The path to the current value (<c>dynamic_masks[1].mask</c>), or to its object when the name itself is bad.</summary>
    private static string Path(ReadOnlySpan<byte> json, Frame[] frames, int depth, bool withName)
    {
        var path = new StringBuilder();
        for (var level = 0; level < depth; level++)
        {
            var frame = frames[level];
            if (frame.IsArray)
            {
                path.Append(CultureInfo.InvariantCulture, $"[{frame.Index}]");
                continue;
            }

            if (level == depth - 1 && !withName)
            {
                break;
            }

            if (path.Length > 0)
            {
                path.Append('.');
            }

            path.Append(frame.NameLength < 0 ? "(name)" : DisplayName(json.Slice(frame.NameStart, frame.NameLength)));
        }

        return path.Length == 0 ? "$" : path.ToString();
    }

    /// <summary>A property name for a path: as sent, lossily decoded, cut to <see cref="MaxNameInPath"/> characters.</summary>
    public static string DisplayName(ReadOnlySpan<byte> raw)
    {
        var name = Encoding.UTF8.GetString(raw[..Math.Min(raw.Length, MaxNameInPath * 4)]);
        return name.Length > MaxNameInPath ? name[..MaxNameInPath] + "…" : name;
    }

    private struct Frame
    {
        public bool IsArray;
        public int Index;
        public int NameStart;
        public int NameLength;
    }
}
