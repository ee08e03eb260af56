using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
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

    /// <summary>
    /// Fed the decoded bytes chunk by chunk: sniffs the format from the first bytes, then walks the whole structure, so
    /// a header alone is not taken for an image and the size it claims is checked against the data that carries it.
    /// <list type="bullet">
    /// <item>PNG (https://www.w3.org/TR/png-3/#5ChunkOrdering): IHDR first, at least one IDAT, and IEND; bytes after IEND
    /// are ignored, as decoders ignore them. The IDAT bytes must be able to hold the pixels IHDR claims: deflate, which
    /// PNG uses, cannot compress better than 1032:1 (https://zlib.net/zlib_tech.html, "Maximum Compression Factor").</item>
    /// <item>JPEG (ITU-T T.81, annex B): marker segments, a frame header (SOFn: C0–CF except C4 DHT, C8 JPG, CC DAC)
    /// before the first scan (SOS), entropy-coded data, and an end marker (EOI); bytes after EOI are ignored. A
    /// Huffman-coded frame codes every 8×8 block's DC coefficient in at least one bit (T.81, F.1.2.1), so its scans
    /// need at least one bit per block of the full-size component. Arithmetic-coded frames (SOF9–SOF15) can go below
    /// that and get the structural checks only.</item>
    /// </list>
    /// </summary>
    private struct HeaderReader
    {
        private const int SniffLength = 32;

        // Deflate's best case: one length/distance pair, at least 2 bits, writes at most 258 bytes.
        private const int DeflateMaxRatio = 1032;

        private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

        private static ReadOnlySpan<byte> JpegSignature => [0xFF, 0xD8, 0xFF];

        private InlineBuffer sniff;
        private int sniffed;

        // PNG: the chunk walk.
        private PngState png;
        private int pngHeaderRead;
        private long pngSkip;
        private int pngChunks;
        private long idatBytes;
        private int bitsPerPixel;
        private InlineBuffer pngHeader;

        // JPEG: the marker walk.
        private JpegState jpeg;
        private long jpegSkip;
        private int segmentLength;
        private int segmentRead;
        private byte segmentMarker;
        private bool sawFrame;
        private bool sawScan;
        private bool arithmetic;
        private long scanBytes;
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
                Walk(sniff);
            }

            Walk(bytes);
        }

        /// <summary>Called once after the last chunk: data shorter than the sniff window is sniffed as it is, and the walk's end judged.</summary>
        public void Complete()
        {
            if (sniffed is > 0 and < SniffLength)
            {
                Sniff();
                Walk(((ReadOnlySpan<byte>)sniff)[..sniffed]);
            }

            if (Failure is not null)
            {
                return;
            }

            if (Format == "png")
            {
                CompletePng();
            }
            else if (Format == "jpeg")
            {
                CompleteJpeg();
            }
        }

        private void Walk(ReadOnlySpan<byte> bytes)
        {
            if (Format == "png" && png is not PngState.Done)
            {
                WalkPng(bytes);
            }
            else if (Format == "jpeg" && jpeg is not JpegState.Done)
            {
                WalkJpeg(bytes);
            }
        }

        private void Sniff()
        {
            var head = ((ReadOnlySpan<byte>)sniff)[..sniffed];
            if (head.StartsWith(PngSignature))
            {
                Format = "png";
                Failure = SniffPng(head);
            }
            else if (head.StartsWith(JpegSignature))
            {
                Format = "jpeg";
                Failure = null;
            }
            else if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8))
            {
                Format = "gif";
            }
            else if (head.StartsWith("RIFF"u8) && head.Length >= 12 && head[8..12].SequenceEqual("WEBP"u8))
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
            else if (head.Length >= 8 && head[4..8].SequenceEqual("ftyp"u8))
            {
                Format = "heif";
            }
        }

        /// <summary>The signature, then the first chunk must be IHDR: length 13, type, width, height, bit depth, colour type (big-endian).</summary>
        private string? SniffPng(ReadOnlySpan<byte> head)
        {
            if (head.Length < 29 || BinaryPrimitives.ReadUInt32BigEndian(head[8..]) != 13 || !head[12..16].SequenceEqual("IHDR"u8))
            {
                return "the PNG data has no valid IHDR header";
            }

            var width = BinaryPrimitives.ReadUInt32BigEndian(head[16..]);
            var height = BinaryPrimitives.ReadUInt32BigEndian(head[20..]);
            if (width is 0 or > int.MaxValue || height is 0 or > int.MaxValue)
            {
                return "the PNG data has no valid IHDR header";
            }

            Width = (int)width;
            Height = (int)height;
            var (depth, colour) = (head[24], head[25]);
            var channels = colour switch
            {
                0 when depth is 1 or 2 or 4 or 8 or 16 => 1,
                3 when depth is 1 or 2 or 4 or 8 => 1,
                2 when depth is 8 or 16 => 3,
                4 when depth is 8 or 16 => 2,
                6 when depth is 8 or 16 => 4,
                _ => 0,
            };
            if (channels == 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"the PNG header gives an invalid colour type {colour} with bit depth {depth}");
            }

            bitsPerPixel = channels * depth;
            return null;
        }

        private void WalkPng(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty && png is not PngState.Done)
            {
                switch (png)
                {
                    case PngState.Signature:
                        // Already checked by the sniff: 8 bytes to pass.
                        pngSkip = pngSkip == 0 ? PngSignature.Length : pngSkip;
                        goto case PngState.Skip;
                    case PngState.Skip:
                        var skip = (int)Math.Min(pngSkip, bytes.Length);
                        pngSkip -= skip;
                        bytes = bytes[skip..];
                        if (pngSkip == 0)
                        {
                            png = PngState.ChunkHeader;
                        }

                        break;
                    case PngState.ChunkHeader:
                        var take = Math.Min(8 - pngHeaderRead, bytes.Length);
                        bytes[..take].CopyTo(((Span<byte>)pngHeader)[pngHeaderRead..]);
                        pngHeaderRead += take;
                        bytes = bytes[take..];
                        if (pngHeaderRead == 8)
                        {
                            pngHeaderRead = 0;
                            Chunk(BinaryPrimitives.ReadUInt32BigEndian(pngHeader), ((ReadOnlySpan<byte>)pngHeader)[4..8]);
                        }

                        break;
                }
            }
        }

        private void Chunk(uint length, ReadOnlySpan<byte> type)
        {
            pngChunks++;
            if (length > int.MaxValue)
            {
                Fail("a PNG chunk gives an impossible length");
                return;
            }

            if (type.SequenceEqual("IDAT"u8))
            {
                idatBytes += length;
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                png = PngState.Done;
                return;
            }

            // Chunk data and its CRC.
            pngSkip = length + 4L;
            png = PngState.Skip;
        }

        private void CompletePng()
        {
            if (png is not PngState.Done)
            {
                Fail(pngChunks <= 1
                    ? "the PNG data is a header alone, with no image data (IDAT) or end (IEND)"
                    : "the PNG data ends before its IEND chunk (it is truncated)");
            }
            else if (idatBytes == 0)
            {
                Fail("the PNG data has no image data (IDAT chunk)");
            }
            else if ((double)Width * Height * bitsPerPixel / 8 > (double)idatBytes * DeflateMaxRatio)
            {
                Fail(string.Create(CultureInfo.InvariantCulture,
                    $"its header claims {Width}×{Height} pixels, more than its {idatBytes} bytes of image data can hold (deflate compresses at most {DeflateMaxRatio}:1)"));
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
                        if (b == 0xFF)
                        {
                            jpeg = JpegState.Marker;
                        }
                        else
                        {
                            Fail("the JPEG data is corrupt: a marker was expected");
                        }

                        break;
                    case JpegState.Marker:
                        Marker(b);
                        break;
                    case JpegState.Length0:
                        segmentLength = b << 8;
                        jpeg = JpegState.Length1;
                        break;
                    case JpegState.Length1:
                        segmentLength |= b;
                        SegmentLength();
                        break;
                    case JpegState.Skip:
                        var skip = (int)Math.Min(jpegSkip, bytes.Length - i);
                        jpegSkip -= skip;
                        i += skip - 1;
                        if (jpegSkip == 0)
                        {
                            jpeg = segmentMarker == 0xDA ? JpegState.Entropy : JpegState.MarkerPrefix;
                        }

                        break;
                    case JpegState.Frame:
                        // SOFn: precision (1), height (2), width (2), ...
                        ((Span<byte>)segment)[segmentRead++] = b;
                        if (segmentRead == 5)
                        {
                            Frame();
                        }

                        break;
                    case JpegState.Entropy:
                        // Scan data runs to the next 0xFF; a vectorized search skips it.
                        var next = bytes[i..].IndexOf((byte)0xFF);
                        var run = next < 0 ? bytes.Length - i : next;
                        scanBytes += run;
                        i += run;
                        if (next >= 0)
                        {
                            jpeg = JpegState.EntropyMarker;
                        }

                        break;
                    case JpegState.EntropyMarker:
                        if (b is 0x00 or (>= 0xD0 and <= 0xD7))
                        {
                            // A stuffed 0xFF data byte, or a restart marker: the scan goes on.
                            scanBytes += 2;
                            jpeg = JpegState.Entropy;
                        }
                        else if (b != 0xFF)
                        {
                            Marker(b);
                        }

                        break;
                    default:
                        jpeg = JpegState.Done;
                        break;
                }
            }
        }

        private void Marker(byte marker)
        {
            switch (marker)
            {
                case 0xFF:
                    return; // fill byte
                case 0x01 or (>= 0xD0 and <= 0xD7):
                    jpeg = JpegState.MarkerPrefix; // standalone markers carry no length
                    return;
                case 0xD8:
                    Fail("the JPEG data is corrupt: a second start marker (SOI)");
                    return;
                case 0xD9:
                    if (sawScan)
                    {
                        jpeg = JpegState.Done;
                    }
                    else
                    {
                        Fail(sawFrame
                            ? "the JPEG data ends (EOI) before any scan data (SOS)"
                            : "the JPEG data has no frame header (SOFn) giving its size");
                    }

                    return;
                case 0xDA when !sawFrame:
                    Fail("the JPEG data has no frame header (SOFn) giving its size");
                    return;
            }

            segmentMarker = marker;
            segmentRead = 0;
            jpeg = JpegState.Length0;
        }

        private void SegmentLength()
        {
            var isFrame = segmentMarker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC;
            if (segmentLength < 2 || (isFrame && segmentLength < 8))
            {
                Fail("the JPEG data is corrupt: a segment gives an impossible length");
            }
            else if (isFrame && !sawFrame)
            {
                arithmetic = segmentMarker >= 0xC9;
                jpeg = JpegState.Frame;
            }
            else
            {
                sawScan |= segmentMarker == 0xDA;
                jpegSkip = segmentLength - 2;
                jpeg = jpegSkip > 0 ? JpegState.Skip : segmentMarker == 0xDA ? JpegState.Entropy : JpegState.MarkerPrefix;
            }
        }

        private void Frame()
        {
            ReadOnlySpan<byte> frame = segment;
            Height = BinaryPrimitives.ReadUInt16BigEndian(frame[1..]);
            Width = BinaryPrimitives.ReadUInt16BigEndian(frame[3..]);
            sawFrame = true;
            if (Width == 0 || Height == 0)
            {
                Fail("the JPEG frame header gives no size");
                return;
            }

            jpegSkip = segmentLength - 2 - 5;
            jpeg = jpegSkip > 0 ? JpegState.Skip : JpegState.MarkerPrefix;
        }

        private void CompleteJpeg()
        {
            if (!sawFrame)
            {
                Fail("the JPEG data has no frame header (SOFn) giving its size");
            }
            else if (!sawScan)
            {
                Fail("the JPEG data has a header but no scan data (SOS)");
            }
            else if (jpeg is not JpegState.Done)
            {
                Fail("the JPEG data ends before its end marker (EOI): it is truncated");
            }
            else if (!arithmetic && scanBytes * 8 < (long)((Width + 7) / 8) * ((Height + 7) / 8))
            {
                Fail(string.Create(CultureInfo.InvariantCulture,
                    $"its header claims {Width}×{Height} pixels, more than its {scanBytes} bytes of scan data can hold (at least one bit per 8×8 block)"));
            }
        }

        private void Fail(string failure)
        {
            Failure = failure;
            png = PngState.Done;
            jpeg = JpegState.Done;
        }
    }

    private enum PngState
    {
        Signature,
        ChunkHeader,
        Skip,
        Done,
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
        Entropy,
        EntropyMarker,
        Done,
    }

    [System.Runtime.CompilerServices.InlineArray(32)]
    private struct InlineBuffer
    {
        private byte element;
    }
}
