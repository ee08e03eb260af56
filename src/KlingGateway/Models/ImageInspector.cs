using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KlingGateway.Models;

/// <summary>
/// An image field as the caller sent it: a URL, or base64 data read down to its header.
/// </summary>
/// <param name="Path">The JSON path of the field, as the caller wrote it (e.g. <c>dynamic_masks[0].mask</c>).</param>
/// <param name="Url">The URL when the value is an absolute http(s) URL.</param>
/// <param name="Data">What the base64 data holds, when it decoded (any format; see <paramref name="Fault"/>).</param>
/// <param name="DataUriPrefixLength">Length of a <c>data:image/...;base64,</c> prefix; 0 for bare base64 or a URL.</param>
/// <param name="Fault">Why the value is not a usable image, worded to follow the field name; null when it is.</param>
public sealed record ImageValue(string Path, string? Url, ImageInfo? Data, int DataUriPrefixLength, string? Fault);

/// <summary>What the header of decoded base64 image data says. Pixels are never decoded.</summary>
/// <param name="Format"><c>png</c>, <c>jpeg</c>, or what else the magic bytes show (<c>gif</c>, <c>webp</c>, <c>bmp</c>, <c>tiff</c>, <c>heif</c>, <c>unknown</c>).</param>
/// <param name="Width">Pixels, from the PNG IHDR or the JPEG SOFn segment; 0 for other formats.</param>
/// <param name="Height">Pixels; 0 for other formats.</param>
/// <param name="DecodedBytes">Exact size of the decoded data.</param>
/// <param name="Sha256Hex">SHA-256 of the decoded bytes, lower-case hex.</param>
public sealed record ImageInfo(string Format, int Width, int Height, long DecodedBytes, string Sha256Hex);

/// <summary>
/// Reads an image field without copying or decoding the picture: the raw UTF-8 of the JSON string is
/// base64-decoded in chunks into one pooled buffer, each chunk feeding a SHA-256 and a header reader
/// (PNG IHDR, JPEG marker walk to the first SOFn). A 7 MB base64 PNG costs one pass and no large allocation.
/// </summary>
public static class ImageInspector
{
    /// <summary>The one fault message for a value that is neither form (CONTRACT.md, "Validation").</summary>
    public const string NotAnImage = "must be an absolute http(s) URL or base64 JPEG/PNG data";

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
        if (text.IndexOf((byte)':') >= 0)
        {
            var url = Encoding.UTF8.GetString(text);
            return Uri.TryCreate(url, UriKind.Absolute, out var uri)
                && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                && !string.IsNullOrEmpty(uri.Host)
                ? new ImageValue(path, url, null, 0, null)
                : new ImageValue(path, null, null, 0, NotAnImage + " (it is not an absolute http or https URL).");
        }

        return InspectBase64(path, text, 0, declaredFormat: null);
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

    /// <summary>
    /// Fed the decoded bytes chunk by chunk: sniffs the format from the first bytes, then reads PNG's IHDR
    /// or walks JPEG marker segments up to the first SOFn (C0–CF except C4 DHT, C8 JPG, CC DAC).
    /// </summary>
    private struct HeaderReader
    {
        private const int SniffLength = 32;

        private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

        private static ReadOnlySpan<byte> JpegSignature => [0xFF, 0xD8, 0xFF];

        private InlineBuffer sniff;
        private int sniffed;
        private JpegState jpeg;
        private int jpegSkip;
        private int segmentLength;
        private int segmentRead;
        private bool segmentIsFrame;
        private InlineBuffer segment;

        public string Format { get; private set; }

        public int Width { get; private set; }

        public int Height { get; private set; }

        public string? Failure { get; private set; }

        public HeaderReader()
        {
            Format = "unknown";
            Failure = "the header could not be read";
        }

        public void Feed(ReadOnlySpan<byte> bytes)
        {
            if (sniffed < SniffLength)
            {
                var take = Math.Min(SniffLength - sniffed, bytes.Length);
                bytes[..take].CopyTo(((Span<byte>)sniff)[sniffed..]);
                sniffed += take;
                bytes = bytes[take..];
                if (sniffed < SniffLength)
                {
                    return;
                }

                Sniff();
                if (Format == "jpeg")
                {
                    WalkJpeg(sniff);
                }
            }

            if (Format == "jpeg" && jpeg is not JpegState.Done)
            {
                WalkJpeg(bytes);
            }
        }

        /// <summary>Called once after the last chunk: data shorter than the sniff window is sniffed as it is.</summary>
        public void Complete()
        {
            if (sniffed is > 0 and < SniffLength)
            {
                Sniff();
                if (Format == "jpeg")
                {
                    WalkJpeg(((ReadOnlySpan<byte>)sniff)[..sniffed]);
                }
            }
        }

        private void Sniff()
        {
            ReadOnlySpan<byte> head = sniff;
            if (head.StartsWith(PngSignature))
            {
                Format = "png";
                // Signature, then the first chunk must be IHDR: length 13, type, width, height (big-endian).
                if (BinaryPrimitives.ReadUInt32BigEndian(head[8..]) == 13 && head[12..16].SequenceEqual("IHDR"u8))
                {
                    var width = BinaryPrimitives.ReadUInt32BigEndian(head[16..]);
                    var height = BinaryPrimitives.ReadUInt32BigEndian(head[20..]);
                    if (width is > 0 and <= int.MaxValue && height is > 0 and <= int.MaxValue)
                    {
                        Width = (int)width;
                        Height = (int)height;
                        Failure = null;
                        return;
                    }
                }

                Failure = "the PNG data has no valid IHDR header";
            }
            else if (head.StartsWith(JpegSignature))
            {
                Format = "jpeg";
                Failure = "the JPEG data has no frame header (SOFn) giving its size";
            }
            else if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8))
            {
                Format = "gif";
            }
            else if (head.StartsWith("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8))
            {
                Format = "webp";
            }
            else if (head.StartsWith("BM"u8))
            {
                Format = "bmp";
            }
            else if (head.StartsWith("II*\0"u8) || head.StartsWith("MM\0*"u8))
            {
                Format = "tiff";
            }
            else if (head[4..8].SequenceEqual("ftyp"u8))
            {
                Format = "heif";
            }
        }

        private void WalkJpeg(ReadOnlySpan<byte> bytes)
        {
            for (var i = 0; i < bytes.Length && jpeg is not JpegState.Done; i++)
            {
                var b = bytes[i];
                switch (jpeg)
                {
                    case JpegState.Soi0:
                        jpeg = JpegState.Soi1;
                        break;
                    case JpegState.Soi1:
                        jpeg = JpegState.MarkerPrefix;
                        break;
                    case JpegState.MarkerPrefix:
                        jpeg = b == 0xFF ? JpegState.Marker : JpegState.Done;
                        break;
                    case JpegState.Marker:
                        if (b == 0xFF)
                        {
                            break; // fill byte
                        }

                        if (b is 0x01 or (>= 0xD0 and <= 0xD7))
                        {
                            jpeg = JpegState.MarkerPrefix; // standalone markers carry no length
                        }
                        else if (b is 0xD8 or 0xD9 or 0xDA)
                        {
                            jpeg = JpegState.Done; // SOI again, EOI or scan data before any frame header
                        }
                        else
                        {
                            segmentIsFrame = b is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC;
                            segmentRead = 0;
                            jpeg = JpegState.Length0;
                        }

                        break;
                    case JpegState.Length0:
                        segmentLength = b << 8;
                        jpeg = JpegState.Length1;
                        break;
                    case JpegState.Length1:
                        segmentLength |= b;
                        if (segmentLength < 2 || (segmentIsFrame && segmentLength < 7))
                        {
                            jpeg = JpegState.Done;
                        }
                        else if (segmentIsFrame)
                        {
                            jpeg = JpegState.Frame;
                        }
                        else
                        {
                            jpegSkip = segmentLength - 2;
                            jpeg = jpegSkip == 0 ? JpegState.MarkerPrefix : JpegState.Skip;
                        }

                        break;
                    case JpegState.Skip:
                        var skip = Math.Min(jpegSkip, bytes.Length - i);
                        jpegSkip -= skip;
                        i += skip - 1;
                        if (jpegSkip == 0)
                        {
                            jpeg = JpegState.MarkerPrefix;
                        }

                        break;
                    case JpegState.Frame:
                        // SOFn: precision (1), height (2), width (2), ...
                        ((Span<byte>)segment)[segmentRead++] = b;
                        if (segmentRead == 5)
                        {
                            ReadOnlySpan<byte> frame = segment;
                            Height = BinaryPrimitives.ReadUInt16BigEndian(frame[1..]);
                            Width = BinaryPrimitives.ReadUInt16BigEndian(frame[3..]);
                            Failure = Width > 0 && Height > 0 ? null : "the JPEG frame header gives no size";
                            jpeg = JpegState.Done;
                        }

                        break;
                    default:
                        jpeg = JpegState.Done;
                        break;
                }
            }
        }
    }

    private enum JpegState
    {
        Soi0,
        Soi1,
        MarkerPrefix,
        Marker,
        Length0,
        Length1,
        Skip,
        Frame,
        Done,
    }

    [System.Runtime.CompilerServices.InlineArray(32)]
    private struct InlineBuffer
    {
        private byte element;
    }
}
