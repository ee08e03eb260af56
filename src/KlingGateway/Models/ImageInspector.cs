using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KlingGateway.Models;

/// <summary>
/// Reads an image field without copying or decoding the picture: the raw UTF-8 of the JSON string is
/// base64-decoded in chunks into one pooled buffer, each chunk feeding a SHA-256 and a header reader
/// (PNG IHDR, JPEG marker walk to the first SOFn). A 7 MB base64 PNG costs one pass and no large allocation.
/// </summary>
public static partial class ImageInspector
{
    /// <summary>The one fault message for a value that is neither form (docs/upstream.md, "Validation").</summary>
    public const string NotAnImage = "must be an absolute http(s) URL or base64 JPEG/PNG data";

    /// <summary>
    /// Longest image URL: the length RFC 9110, section 4.1, recommends every sender and recipient support. A signed
    /// URL with its token fits with room to spare.
    /// </summary>
    public const int MaxUrlBytes = 8000;

    // 64 KB of base64 decodes to 48 KB; a multiple of 4 so chunks split on quantum boundaries.
    private const int SourceChunk = 64 * 1024;

    private static readonly (string Prefix, string Format)[] DataUriPrefixes =
    [
        ("data:image/png;base64,", "png"),
        ("data:image/jpeg;base64,", "jpeg"),
        ("data:image/jpg;base64,", "jpeg"),
    ];

    /// <summary>Inspects a JSON string element. Call only for <see cref="JsonValueKind.String"/>.</summary>
    public static ImageValue Inspect(string path, JsonElement element)
    {
        // In .NET 10 the raw value of a string includes its quotes.
        var raw = JsonMarshal.GetRawUtf8Value(element);
        raw = raw[1..^1];
        if (raw.IndexOf((byte)'\\') < 0)
        {
            return Inspect(path, raw);
        }

        // Escapes (e.g. "\/" as some JSON writers emit inside base64): unescape once into a pooled buffer.
        var buffer = RentUnescaped(element, out var written);
        try
        {
            return Inspect(path, buffer.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The UTF-8 of a JSON string element with its escapes undone, in a buffer rented from
    /// <see cref="ArrayPool{T}.Shared"/> that the caller returns; its first <paramref name="length"/> bytes hold it.
    /// </summary>
    internal static byte[] RentUnescaped(JsonElement element, out int length)
    {
        var quoted = JsonMarshal.GetRawUtf8Value(element);
        var buffer = ArrayPool<byte>.Shared.Rent(quoted.Length);
        var reader = new Utf8JsonReader(quoted);
        reader.Read();
        length = reader.CopyString(buffer);
        return buffer;
    }

    /// <summary>Inspects the unescaped UTF-8 text of an image field.</summary>
    public static ImageValue Inspect(string path, ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty)
        {
            return new ImageValue(path, null, null, 0, NotAnImage + " (it is empty).");
        }

        if (StartsWithIgnoreCase(text, "data:"u8))
        {
            foreach (var (prefix, format) in DataUriPrefixes)
            {
                if (StartsWithIgnoreCase(text, Encoding.ASCII.GetBytes(prefix)))
                {
                    return InspectBase64(path, text, prefix.Length, format);
                }
            }

            return new ImageValue(path, null, null, 0,
                NotAnImage + "; a data URI must start data:image/png;base64, or data:image/jpeg;base64,.");
        }

        // ':' is not in the base64 alphabet, so a value holding one can only be meant as a URL.
        return text.IndexOf((byte)':') >= 0 ? InspectUrl(path, text) : InspectBase64(path, text, 0, declaredFormat: null);
    }

    /// <summary>
    /// An image URL, as the upstream will fetch it. It must be an absolute http(s) URL of at most
    /// <see cref="MaxUrlBytes"/>, with no whitespace or control character (RFC 3986, section 2, allows none in a URI;
    /// a CR or LF in one becomes a forged header line in whatever fetches it), no backslash (which WHATWG URL parsers
    /// read as '/' and RFC 3986 parsers do not, so two parsers would see two hosts), and no credentials
    /// (<c>user:password@</c>: deprecated by RFC 3986, section 3.2.1, a phishing device, and something the ledger would
    /// keep). Non-ASCII letters are taken, as IRIs (RFC 3987), but not invisible formatting characters such as bidi
    /// controls, which RFC 3987, section 4.1, forbids.
    /// </summary>
    private static ImageValue InspectUrl(string path, ReadOnlySpan<byte> text)
    {
        if (text.Length > MaxUrlBytes)
        {
            return new ImageValue(path, null, null, 0, string.Create(CultureInfo.InvariantCulture,
                $"must be a URL of at most {MaxUrlBytes} bytes (RFC 9110, section 4.1); this one is {text.Length} bytes."));
        }

        var url = Encoding.UTF8.GetString(text);
        for (var i = 0; i < url.Length; i++)
        {
            var c = url[i];
            var what = c == '\\' ? "a backslash"
                : char.IsWhiteSpace(c) ? "whitespace"
                : char.IsControl(c) ? "a control character"
                : CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.Format ? "an invisible formatting character"
                : null;
            if (what is not null)
            {
                return new ImageValue(path, null, null, 0, string.Create(CultureInfo.InvariantCulture,
                    $"must be a URL with no whitespace, control character or backslash (RFC 3986, section 2; RFC 3987, section 4.1); it holds {what} (U+{(int)c:X4}) at character {i + 1}."));
            }
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            return new ImageValue(path, null, null, 0, NotAnImage + " (it is not an absolute http or https URL).");
        }

        return uri.UserInfo.Length > 0
            ? new ImageValue(path, null, null, 0,
                "must be a URL without credentials (user:password@, deprecated by RFC 3986, section 3.2.1); use a URL that needs none, such as a signed URL.")
            : new ImageValue(path, url, null, 0, null);
    }

    private static ImageValue InspectBase64(string path, ReadOnlySpan<byte> text, int prefixLength, string? declaredFormat)
    {
        var source = text[prefixLength..];
        var decoded = ArrayPool<byte>.Shared.Rent(SourceChunk / 4 * 3);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var header = new HeaderReader();
        long total = 0;
        try
        {
            var offset = 0;
            while (offset < source.Length)
            {
                var slice = source.Slice(offset, Math.Min(SourceChunk, source.Length - offset));
                var final = offset + slice.Length == source.Length;
                var status = Base64.DecodeFromUtf8(slice, decoded, out var consumed, out var written, final);
                Feed(decoded.AsSpan(0, written));
                offset += consumed;

                if (status == OperationStatus.Done)
                {
                    continue;
                }

                if (status == OperationStatus.NeedMoreData && !final && consumed > 0)
                {
                    continue;
                }

                if (final && TryDecodeUnpadded(slice[consumed..], decoded, out written))
                {
                    Feed(decoded.AsSpan(0, written));
                    break;
                }

                return new ImageValue(path, null, null, 0, NotAnImage + " (it is not valid base64).");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(decoded);
        }

        if (total == 0)
        {
            return new ImageValue(path, null, null, 0, NotAnImage + " (the base64 data is empty).");
        }

        header.Complete();
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        var info = new ImageInfo(header.Format, header.Width, header.Height, total, Convert.ToHexStringLower(digest));
        return new ImageValue(path, null, info, prefixLength, Fault(info, header, declaredFormat));

        void Feed(ReadOnlySpan<byte> bytes)
        {
            if (bytes.IsEmpty)
            {
                return;
            }

            hash.AppendData(bytes);
            header.Feed(bytes);
            total += bytes.Length;
        }
    }

    private static string? Fault(ImageInfo info, in HeaderReader header, string? declaredFormat)
    {
        if (info.Format is not ("png" or "jpeg"))
        {
            return $"must be JPEG or PNG image data; the data is {Describe(info.Format)}.";
        }

        if (declaredFormat is not null && declaredFormat != info.Format)
        {
            return $"is declared as image/{declaredFormat} but the data is {Describe(info.Format)}.";
        }

        return header.Failure is { } failure ? $"must be JPEG or PNG image data; {failure}." : null;
    }

    /// <summary>Display name of a format from <see cref="ImageInfo.Format"/>.</summary>
    public static string Describe(string format) => format switch
    {
        "png" => "PNG",
        "jpeg" => "JPEG",
        "gif" => "GIF",
        "webp" => "WebP",
        "bmp" => "BMP",
        "tiff" => "TIFF",
        "heif" => "HEIF/AVIF",
        _ => "not a recognised image format",
    };

    // Base64 without its trailing '=' padding: decode the last 2 or 3 characters as a padded quantum.
    private static bool TryDecodeUnpadded(ReadOnlySpan<byte> rest, Span<byte> destination, out int written)
    {
        written = 0;
        Span<byte> quantum = stackalloc byte[4];
        var count = 0;
        foreach (var b in rest)
        {
            if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                continue;
            }

            if (count == 3)
            {
                return false;
            }

            quantum[count++] = b;
        }

        if (count < 2)
        {
            return false;
        }

        quantum[count..].Fill((byte)'=');
        return Base64.DecodeFromUtf8(quantum, destination, out _, out written) == OperationStatus.Done;
    }

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> prefix) =>
        text.Length >= prefix.Length && Ascii.EqualsIgnoreCase(text[..prefix.Length], prefix);
}
