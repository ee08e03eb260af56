namespace KlingGateway.Models;

public static partial class ImageInspector
{
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
    private partial struct HeaderReader
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
