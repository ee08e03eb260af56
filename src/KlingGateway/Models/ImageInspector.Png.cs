using System.Buffers.Binary;
using System.Globalization;

namespace KlingGateway.Models;

public static partial class ImageInspector
{
    /// <summary>The PNG structure check: the signature and IHDR, the chunk walk, and IDAT against the pixels IHDR claims.</summary>
    private partial struct HeaderReader
    {
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
    }
}
