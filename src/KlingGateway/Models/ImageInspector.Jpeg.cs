using System.Buffers.Binary;
using System.Globalization;

namespace KlingGateway.Models;

public static partial class ImageInspector
{
    /// <summary>The JPEG structure check: the marker walk, the frame header (SOFn), and the scan data against the pixels it claims.</summary>
    private partial struct HeaderReader
    {
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
    }
}
