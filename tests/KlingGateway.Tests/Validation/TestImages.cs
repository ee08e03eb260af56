using System.Buffers.Binary;
using System.Text;

namespace KlingGateway.Tests.Validation;

/// <summary>
/// Images of chosen dimensions and size whose structure is whole (a PNG's IHDR, IDAT and IEND; a JPEG's frame header,
/// scan and end marker) with filler where the pixels would be: the gateway walks the structure and checks the data is
/// large enough for the pixels claimed, but never decodes them.
/// </summary>
internal static class TestImages
{
    /// <summary>
    /// An 8-bit RGB PNG: signature, IHDR, one IDAT of filler at least as large as deflate would need for the pixels
    /// (1 byte per 1032), IEND; the IDAT grows to make <paramref name="totalBytes"/> when given.
    /// </summary>
    public static byte[] Png(int width, int height, int totalBytes = 0)
    {
        var bytes = new List<byte>(PngHeaderOnly(width, height));
        var least = (int)Math.Min(int.MaxValue / 2, (long)width * height * 3 / 1032 + 1);
        var idat = Math.Max(least, totalBytes - bytes.Count - 12 - 12);
        AddChunk(bytes, "IDAT", new byte[idat]);
        AddChunk(bytes, "IEND", []);
        return [.. bytes];
    }

    /// <summary>A PNG signature and IHDR alone (33 bytes): a header claiming any size, with no image data.</summary>
    public static byte[] PngHeaderOnly(int width, int height, byte bitDepth = 8, byte colourType = 2)
    {
        var header = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
        AddChunk(header, "IHDR", [.. BigEndian32(width), .. BigEndian32(height), bitDepth, colourType, 0, 0, 0]);
        return [.. header];
    }

    /// <summary>A PNG with its IHDR and one IDAT of <paramref name="idatBytes"/> but no IEND: cut off in transit.</summary>
    public static byte[] PngTruncated(int width, int height, int idatBytes)
    {
        var bytes = new List<byte>(PngHeaderOnly(width, height));
        AddChunk(bytes, "IDAT", new byte[idatBytes]);
        return [.. bytes];
    }

    /// <summary>A PNG whose single IDAT holds <paramref name="idatBytes"/>, whatever the pixels claimed need.</summary>
    public static byte[] PngWithData(int width, int height, int idatBytes)
    {
        var bytes = new List<byte>(PngHeaderOnly(width, height));
        AddChunk(bytes, "IDAT", new byte[idatBytes]);
        AddChunk(bytes, "IEND", []);
        return [.. bytes];
    }

    /// <summary>
    /// SOI, APP0 (JFIF), optional large APP1 segments, DQT, a frame header (<paramref name="sofMarker"/>) with the
    /// dimensions, a scan (SOS) of filler at least one bit per 8×8 block, grown to make <paramref name="totalBytes"/>
    /// when given, and EOI.
    /// </summary>
    public static byte[] Jpeg(int width, int height, int totalBytes = 0, int app1Bytes = 0, byte sofMarker = 0xC0) =>
        JpegOf(width, height, totalBytes, app1Bytes, sofMarker, scanBytes: null, end: true);

    /// <summary>A JPEG whose scan holds <paramref name="scanBytes"/>, whatever the pixels claimed need.</summary>
    public static byte[] JpegWithScan(int width, int height, int scanBytes, byte sofMarker = 0xC0) =>
        JpegOf(width, height, 0, 0, sofMarker, scanBytes, end: true);

    /// <summary>A JPEG cut off inside its scan: no EOI.</summary>
    public static byte[] JpegTruncated(int width, int height) => JpegOf(width, height, 0, 0, 0xC0, scanBytes: null, end: false);

    /// <summary>SOI, APP0, DQT, a frame header and EOI: a header claiming any size, with no scan.</summary>
    public static byte[] JpegHeaderOnly(int width, int height)
    {
        var bytes = JpegHead(width, height, 0, 0xC0);
        bytes.AddRange([0xFF, 0xD9]);
        return [.. bytes];
    }

    private static byte[] JpegOf(int width, int height, int totalBytes, int app1Bytes, byte sofMarker, int? scanBytes, bool end)
    {
        var bytes = JpegHead(width, height, app1Bytes, sofMarker);
        bytes.AddRange([0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3F, 0x00]); // SOS, 3 components
        var least = (int)((long)((width + 7) / 8) * ((height + 7) / 8) / 8 + 1);
        var scan = scanBytes ?? Math.Max(least, totalBytes - bytes.Count - 2);
        bytes.AddRange(new byte[scan]);
        if (end)
        {
            bytes.AddRange([0xFF, 0xD9]);
        }

        return [.. bytes];
    }

    private static List<byte> JpegHead(int width, int height, int app1Bytes, byte sofMarker)
    {
        var bytes = new List<byte> { 0xFF, 0xD8 };
        bytes.AddRange([0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
        // Several APP1 segments of up to 64 KB each, so the SOF lies beyond the first decode chunk.
        for (var left = app1Bytes; left > 0;)
        {
            var size = Math.Min(left, 65000);
            bytes.AddRange([0xFF, 0xE1]);
            bytes.AddRange(BigEndian16(size + 2));
            bytes.AddRange(new byte[size]);
            left -= size;
        }

        bytes.AddRange([0xFF, 0xDB, 0x00, 0x43, 0x00]); // DQT: length 67
        bytes.AddRange(new byte[64]);
        bytes.AddRange([0xFF, sofMarker, 0x00, 0x11, 0x08]);
        bytes.AddRange(BigEndian16(height));
        bytes.AddRange(BigEndian16(width));
        bytes.AddRange([0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
        return bytes;
    }

    private static void AddChunk(List<byte> bytes, string type, byte[] data)
    {
        bytes.AddRange(BigEndian32(data.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(type));
        bytes.AddRange(data);
        bytes.AddRange([0, 0, 0, 0]); // CRC: not checked by the gateway
    }

    /// <summary>A JPEG that reaches its scan data without any frame header.</summary>
    public static byte[] JpegWithoutFrame() =>
        [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x02, .. new byte[40], 0xFF, 0xD9];

    public static byte[] Gif(int width = 640, int height = 480)
    {
        var bytes = new List<byte>("GIF89a"u8.ToArray());
        bytes.AddRange([(byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8)]);
        return Pad(bytes, 64);
    }

    public static byte[] WebP()
    {
        var bytes = new List<byte>("RIFF"u8.ToArray());
        bytes.AddRange([56, 0, 0, 0]);
        bytes.AddRange("WEBPVP8 "u8.ToArray());
        return Pad(bytes, 64);
    }

    public static string Base64(byte[] bytes) => Convert.ToBase64String(bytes);

    public static string DataUri(string mediaType, byte[] bytes) => $"data:{mediaType};base64,{Convert.ToBase64String(bytes)}";

    /// <summary>A valid first frame, small enough to inline in any test body.</summary>
    public static string ValidPng => Base64(Png(1280, 720));

    public static string ValidJpeg => Base64(Jpeg(720, 1280));

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] Pad(List<byte> bytes, int totalBytes)
    {
        if (totalBytes > bytes.Count)
        {
            var result = new byte[totalBytes];
            bytes.CopyTo(result);
            return result;
        }

        return [.. bytes];
    }

    private static byte[] BigEndian32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] BigEndian16(int value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        return bytes;
    }
}
