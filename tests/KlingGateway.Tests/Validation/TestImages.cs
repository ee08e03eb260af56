using System.Buffers.Binary;
using System.Text;

namespace KlingGateway.Tests.Validation;

/// <summary>
/// Real image headers of chosen dimensions and size, with no pixel data: the gateway reads headers only.
/// </summary>
internal static class TestImages
{
    /// <summary>PNG signature and IHDR chunk, zero-padded to <paramref name="totalBytes"/> when given.</summary>
    public static byte[] Png(int width, int height, int totalBytes = 0)
    {
        var header = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
        header.AddRange(BigEndian32(13));
        header.AddRange("IHDR"u8.ToArray());
        header.AddRange(BigEndian32(width));
        header.AddRange(BigEndian32(height));
        header.AddRange([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, adaptive filtering, no interlace
        header.AddRange([0, 0, 0, 0]);    // CRC: not checked by a header reader
        return Pad(header, totalBytes);
    }

    /// <summary>SOI, APP0 (JFIF), an optional large APP1, SOF0 with the dimensions, padding, EOI.</summary>
    public static byte[] Jpeg(int width, int height, int totalBytes = 0, int app1Bytes = 0, byte sofMarker = 0xC0)
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
        var padded = Pad(bytes, totalBytes == 0 ? 0 : totalBytes - 2);
        return [.. padded, 0xFF, 0xD9];
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
