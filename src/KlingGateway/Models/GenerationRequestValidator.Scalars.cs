using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace KlingGateway.Models;

public sealed partial class GenerationRequestValidator
{
    /// <summary>Text, enum, number and duration fields.</summary>
    private sealed partial class Walk
    {
        /// <summary>Longest text whose characters are counted (see <see cref="TextElements"/>).</summary>
        private const int MaxCountedTextBytes = 256 * 1024;

        private void CheckText(FieldSpec spec, string path, JsonElement value)
        {
            var limit = spec.MaxLength is { } max
                ? string.Create(CultureInfo.InvariantCulture, $" of at most {max} characters")
                : "";
            if (value.ValueKind != JsonValueKind.String)
            {
                Error(path, $"must be a string{limit} (got {JsonKinds.Describe(value)}).");
                return;
            }

            if (spec.Printable && FirstControl(value.GetString()!) is { } control)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must not hold control characters; it holds U+{(int)control.Character:X4} at character {control.Index + 1}."));
            }

            if (spec.MaxLength is { } maxLength && TextElements(value, maxLength) is var count && (count > maxLength || count < 0))
            {
                Error(path, count > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"must be at most {maxLength} characters; it has {count}.")
                    : string.Create(CultureInfo.InvariantCulture,
                        $"must be at most {maxLength} characters; it is {JsonMarshal.GetRawUtf8Value(value).Length - 2} bytes, far more than that."));
            }
        }

        private static (int Index, char Character)? FirstControl(string text)
        {
            for (var i = 0; i < text.Length; i++)
            {
                if (char.IsControl(text[i]))
                {
                    return (i, text[i]);
                }
            }

            return null;
        }

        /// <summary>
        /// Characters as users perceive them (text elements), so an emoji or an accented letter counts once. The raw
        /// byte length is an upper bound of the UTF-16 length, checked first to skip the count for short text. Text of
        /// more than <see cref="MaxCountedTextBytes"/> is not counted: no text of a few thousand characters, even one
        /// heavy with combining marks, comes near it, so it is over the limit (answered as its byte length).
        /// </summary>
        private static int TextElements(JsonElement value, int atMost)
        {
            var raw = JsonMarshal.GetRawUtf8Value(value);
            if (raw.Length - 2 <= atMost)
            {
                return 0;
            }

            if (raw.Length > MaxCountedTextBytes)
            {
                return -1;
            }

            var buffer = System.Buffers.ArrayPool<char>.Shared.Rent(raw.Length);
            try
            {
                var reader = new Utf8JsonReader(raw);
                reader.Read();
                ReadOnlySpan<char> text = buffer.AsSpan(0, reader.CopyString(buffer));
                var count = 0;
                while (!text.IsEmpty)
                {
                    text = text[StringInfo.GetNextTextElementLength(text)..];
                    count++;
                }

                return count;
            }
            finally
            {
                System.Buffers.ArrayPool<char>.Shared.Return(buffer);
            }
        }

        private void CheckEnum(IReadOnlyList<string> allowed, bool ignoreCase, string path, JsonElement value)
        {
            var anyCase = ignoreCase ? ", in any case" : "";
            if (value.ValueKind != JsonValueKind.String)
            {
                Error(path, $"must be one of {Join(allowed)}{anyCase} (got {JsonKinds.Describe(value)}).");
                return;
            }

            var text = value.GetString()!;
            var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            if (!allowed.Any(a => string.Equals(a, text, comparison)))
            {
                Error(path, $"must be one of {Join(allowed)}{anyCase} (got {Quote(value)}).");
            }
        }

        private bool CheckNumber(double? minimum, double? maximum, string path, JsonElement value)
        {
            var range = minimum is { } min && maximum is { } max
                ? string.Create(CultureInfo.InvariantCulture, $" between {min} and {max}")
                : "";
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number))
            {
                Error(path, $"must be a number{range} (got {JsonKinds.Describe(value)}).");
                return false;
            }

            if (number < minimum || number > maximum)
            {
                Error(path, $"must be a number{range} (got {Quote(value)}).");
                return false;
            }

            return true;
        }

        private void CheckDuration(FieldSpec spec, string path, JsonElement value)
        {
            var allowed = spec.AllowedValues ?? [];
            var ok = value.ValueKind switch
            {
                JsonValueKind.Number => value.TryGetDouble(out var d)
                    && allowed.Contains(d.ToString(CultureInfo.InvariantCulture)),
                JsonValueKind.String => allowed.Any(a => value.ValueEquals(a)),
                _ => false,
            };
            if (!ok)
            {
                var got = value.ValueKind is JsonValueKind.Number or JsonValueKind.String ? Quote(value) : JsonKinds.Describe(value);
                Error(path, $"must be {string.Join(" or ", allowed)}, as a number ({allowed.FirstOrDefault()}) or a string " +
                    $"(\"{allowed.FirstOrDefault()}\") (got {got}).");
            }
        }
    }
}
