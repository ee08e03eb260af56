using System.Security.Cryptography;
using System.Text.Json;
using KlingGateway.Models;

namespace KlingGateway.Tests.Validation;

public sealed class ImageInspectorTests
{
    private static ImageValue Inspect(string value)
    {
        using var document = JsonDocument.Parse(JsonSerializer.Serialize(value));
        return ImageInspector.Inspect("image_url", document.RootElement);
    }

    private static ImageValue InspectRawJson(string jsonString)
    {
        using var document = JsonDocument.Parse(jsonString);
        return ImageInspector.Inspect("image_url", document.RootElement);
    }

    [Fact]
    public void PngHeader_GivesFormatDimensionsSizeAndHash()
    {
        var bytes = TestImages.Png(1280, 720, totalBytes: 5000);

        var image = Inspect(TestImages.Base64(bytes));

        Assert.Null(image.Fault);
        Assert.Null(image.Url);
        Assert.Equal(0, image.DataUriPrefixLength);
        Assert.Equal(new ImageInfo("png", 1280, 720, 5000, Convert.ToHexStringLower(SHA256.HashData(bytes))), image.Data);
    }

    [Theory]
    [InlineData(0xC0)]
    [InlineData(0xC2)]
    [InlineData(0xCF)]
    public void JpegFrameMarkers_GiveDimensions(byte sofMarker)
    {
        var image = Inspect(TestImages.Base64(TestImages.Jpeg(720, 1280, sofMarker: sofMarker)));

        Assert.Null(image.Fault);
        Assert.Equal(("jpeg", 720, 1280), (image.Data!.Format, image.Data.Width, image.Data.Height));
    }

    [Fact]
    public void JpegWithLargeMetadataBeforeFrame_IsWalkedAcrossDecodeChunks()
    {
        var bytes = TestImages.Jpeg(4000, 3000, app1Bytes: 200_000);

        var image = Inspect(TestImages.Base64(bytes));

        Assert.Null(image.Fault);
        Assert.Equal((4000, 3000, (long)bytes.Length), (image.Data!.Width, image.Data.Height, image.Data.DecodedBytes));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), image.Data.Sha256Hex);
    }

    [Fact]
    public void JpegWithoutFrameHeader_IsAFault()
    {
        var image = Inspect(TestImages.Base64(TestImages.JpegWithoutFrame()));

        Assert.Contains("no frame header", image.Fault);
    }

    [Fact]
    public void JpegDhtMarker_IsNotTakenForAFrame()
    {
        // C4 (DHT) sits in the SOF range but is not a frame header; the reader must skip it.
        var image = Inspect(TestImages.Base64(TestImages.Jpeg(800, 600, sofMarker: 0xC4)));

        Assert.Contains("no frame header", image.Fault);
    }

    [Theory]
    [InlineData("gif", "GIF")]
    [InlineData("webp", "WebP")]
    [InlineData("text", "not a recognised image format")]
    public void OtherFormats_AreNamedInTheFault(string kind, string named)
    {
        var bytes = kind switch
        {
            "gif" => TestImages.Gif(),
            "webp" => TestImages.WebP(),
            _ => TestImages.Utf8(new string('x', 100)),
        };

        var image = Inspect(TestImages.Base64(bytes));

        Assert.Equal($"must be JPEG or PNG image data; the data is {named}.", image.Fault);
        Assert.NotNull(image.Data);
    }

    [Theory]
    [InlineData("data:image/png;base64,", "png")]
    [InlineData("DATA:IMAGE/PNG;BASE64,", "png")]
    [InlineData("data:image/jpeg;base64,", "jpeg")]
    [InlineData("data:image/jpg;base64,", "jpeg")]
    [InlineData("Data:Image/Jpg;Base64,", "jpeg")]
    public void DataUriPrefixes_AreAcceptedInAnyCase(string prefix, string format)
    {
        var bytes = format == "png" ? TestImages.Png(600, 600) : TestImages.Jpeg(600, 600);

        var image = Inspect(prefix + TestImages.Base64(bytes));

        Assert.Null(image.Fault);
        Assert.Equal(prefix.Length, image.DataUriPrefixLength);
        Assert.Equal(format, image.Data!.Format);
    }

    [Fact]
    public void DataUriDeclaringPngHoldingJpeg_IsAFault()
    {
        var image = Inspect(TestImages.DataUri("image/png", TestImages.Jpeg(600, 600)));

        Assert.Equal("is declared as image/png but the data is JPEG.", image.Fault);
    }

    [Theory]
    [InlineData("data:image/gif;base64,R0lGODlh")]
    [InlineData("data:text/plain;base64,aGVsbG8=")]
    [InlineData("data:image/png,rawbytes")]
    public void OtherDataUris_AreFaults(string value)
    {
        var image = Inspect(value);

        Assert.StartsWith(ImageInspector.NotAnImage, image.Fault);
        Assert.Contains("data:image/png;base64, or data:image/jpeg;base64,", image.Fault);
    }

    [Theory]
    [InlineData("https://example.com/frame.png")]
    [InlineData("http://example.com:8080/a/b.jpg?x=1")]
    [InlineData("HTTPS://EXAMPLE.COM/A.PNG")]
    public void AbsoluteHttpUrls_AreKept(string url)
    {
        var image = Inspect(url);

        Assert.Null(image.Fault);
        Assert.Equal(url, image.Url);
        Assert.Null(image.Data);
    }

    [Theory]
    [InlineData("ftp://example.com/frame.png", "not an absolute http or https URL")]
    [InlineData("file:///etc/passwd", "not an absolute http or https URL")]
    [InlineData("https://", "not an absolute http or https URL")]
    [InlineData("example.com/frame.png", "not valid base64")]
    [InlineData("/images/frame.png", "not valid base64")]
    [InlineData("iVBORw0KGgo!!!", "not valid base64")]
    [InlineData("", "it is empty")]
    [InlineData("A", "not valid base64")]
    public void NeitherUrlNorBase64_IsAFault(string value, string reason)
    {
        var image = Inspect(value);

        Assert.StartsWith(ImageInspector.NotAnImage, image.Fault);
        Assert.Contains(reason, image.Fault);
    }

    [Fact]
    public void JsonEscapedSlashesInBase64_DecodeToTheSameImage()
    {
        byte[] bytes = [.. TestImages.Png(1024, 1024), .. Enumerable.Repeat((byte)0xFF, 300)]; // 0xFF bytes encode as '/'
        var base64 = TestImages.Base64(bytes);
        Assert.Contains('/', base64);

        var escaped = InspectRawJson("\"" + base64.Replace("/", "\\/") + "\"");
        var plain = Inspect(base64);

        Assert.Null(escaped.Fault);
        Assert.Equal(plain.Data, escaped.Data);
    }

    [Fact]
    public void Base64WithoutPadding_IsTolerated()
    {
        var bytes = TestImages.Png(300, 300, totalBytes: 400); // 400 bytes: base64 ends with "=="
        var base64 = TestImages.Base64(bytes);

        var image = Inspect(base64.TrimEnd('='));

        Assert.Null(image.Fault);
        Assert.Equal(400, image.Data!.DecodedBytes);
    }

    [Fact]
    public void ShortDataSmallerThanTheSniffWindow_IsReadAsItIs()
    {
        var image = Inspect(TestImages.Base64([0xFF, 0xD8, 0xFF, 0xD9]));

        Assert.Equal("jpeg", image.Data!.Format);
        Assert.Contains("no frame header", image.Fault);
    }

    [Fact]
    public void PngHeaderAlone_ClaimingAnyDimensions_IsNotAnImage()
    {
        // 33 bytes: a signature and an IHDR claiming 2147483647 × 2147483647 px, nothing else.
        var bytes = TestImages.PngHeaderOnly(int.MaxValue, int.MaxValue);
        Assert.Equal(33, bytes.Length);

        var image = Inspect(TestImages.Base64(bytes));

        Assert.Equal("must be JPEG or PNG image data; the PNG data is a header alone, with no image data (IDAT) or end (IEND).", image.Fault);
    }

    [Theory]
    [InlineData(16_000, 16_000, 1_000)]
    [InlineData(int.MaxValue, int.MaxValue, 1_000_000)]
    [InlineData(1280, 720, 2_600)]
    public void PngClaimingMorePixelsThanItsDataCanHold_IsAFault(int width, int height, int idatBytes)
    {
        var image = Inspect(TestImages.Base64(TestImages.PngWithData(width, height, idatBytes)));

        Assert.Contains($"its header claims {width}×{height} pixels, more than its {idatBytes} bytes of image data can hold", image.Fault);
    }

    [Fact]
    public void PngAtTheDeflateBound_IsTakenAndOneByteLessIsNot()
    {
        // 1280 × 720 RGB is 2,764,800 bytes of pixels: deflate needs at least 2,764,800 / 1032 = 2,679.1 bytes.
        Assert.Null(Inspect(TestImages.Base64(TestImages.PngWithData(1280, 720, 2_680))).Fault);
        Assert.NotNull(Inspect(TestImages.Base64(TestImages.PngWithData(1280, 720, 2_679))).Fault);
    }

    [Theory]
    [InlineData(4096, 4096, 8, 2)] // RGB, one colour: the best case for deflate
    [InlineData(4096, 4096, 1, 0)] // 1-bit grey
    [InlineData(300, 300, 16, 6)]  // 16-bit RGBA
    public void RealPngsCompressedAsHardAsZlibCan_AreTaken(int width, int height, byte bitDepth, byte colourType)
    {
        var bytes = RealPng.Flat(width, height, bitDepth, colourType);

        var image = Inspect(TestImages.Base64(bytes));

        Assert.Null(image.Fault);
        Assert.Equal((width, height), (image.Data!.Width, image.Data.Height));
    }

    [Fact]
    public void TruncatedPng_IsAFault()
    {
        var image = Inspect(TestImages.Base64(TestImages.PngTruncated(640, 480, 10_000)));

        Assert.Contains("ends before its IEND chunk", image.Fault);
    }

    [Theory]
    [InlineData(8, 3 + 8)] // colour type 11 does not exist
    [InlineData(3, 2)]     // RGB takes 8 or 16 bits
    [InlineData(16, 3)]    // a palette takes at most 8
    public void PngWithAnImpossibleColourTypeOrDepth_IsAFault(byte bitDepth, byte colourType)
    {
        byte[] bytes = [.. TestImages.PngHeaderOnly(640, 480, bitDepth, colourType), .. TestImages.Png(640, 480)[33..]];

        var image = Inspect(TestImages.Base64(bytes));

        Assert.Contains("invalid colour type", image.Fault);
    }

    [Fact]
    public void JpegHeaderAlone_IsNotAnImage()
    {
        var image = Inspect(TestImages.Base64(TestImages.JpegHeaderOnly(65535, 65535)));

        Assert.Contains("before any scan data (SOS)", image.Fault);
    }

    [Fact]
    public void TruncatedJpeg_IsAFault()
    {
        var image = Inspect(TestImages.Base64(TestImages.JpegTruncated(640, 480)));

        Assert.Contains("ends before its end marker (EOI)", image.Fault);
    }

    [Fact]
    public void JpegClaimingMoreBlocksThanItsScanCanHold_IsAFault()
    {
        // 65535 × 65535 px is 67,092,481 blocks of 8 × 8: at least 8,386,561 bytes of scan data.
        var image = Inspect(TestImages.Base64(TestImages.JpegWithScan(65535, 65535, 1_000)));

        Assert.Contains("its header claims 65535×65535 pixels, more than its 1000 bytes of scan data can hold", image.Fault);
    }

    [Fact]
    public void JpegScanWithStuffedBytesAndRestartMarkers_IsWalkedToItsEnd()
    {
        // FF 00 is a data byte 0xFF; FF D0..D7 are restart markers inside the scan; neither ends it.
        var jpeg = TestImages.Jpeg(64, 64).ToList();
        var scanStart = jpeg.Count - 2 - 9;
        jpeg.InsertRange(scanStart, [0xFF, 0x00, 0x12, 0xFF, 0xD3, 0x34, 0xFF, 0xFF, 0x00]);

        var image = Inspect(TestImages.Base64([.. jpeg]));

        Assert.Null(image.Fault);
    }

    [Fact]
    public void ArithmeticCodedJpeg_GetsTheStructuralChecksOnly()
    {
        // Arithmetic coding can spend less than a bit on a block, so a small scan is no proof of a forged size.
        Assert.Null(Inspect(TestImages.Base64(TestImages.JpegWithScan(4000, 3000, 100, sofMarker: 0xC9))).Fault);
        Assert.NotNull(Inspect(TestImages.Base64(TestImages.JpegWithScan(4000, 3000, 100, sofMarker: 0xC0))).Fault);
    }

    [Theory]
    [InlineData("https://example.com/a.png\\r\\nX-Injected: 1", "whitespace (U+000D) at character 26")]
    [InlineData("https://example.com/a.png\\n", "whitespace (U+000A) at character 26")]
    [InlineData("https://example.com/a b.png", "whitespace (U+0020) at character 22")]
    [InlineData("https://example.com/a\\tb.png", "whitespace (U+0009) at character 22")]
    [InlineData("https://example.com/a\\u0000.png", "a control character (U+0000) at character 22")]
    [InlineData("https://example.com/a\u007f.png", "a control character (U+007F) at character 22")]
    [InlineData("https://example.com/a\u0085.png", "whitespace (U+0085) at character 22")]
    [InlineData("https://example.com/a\u2028.png", "whitespace (U+2028) at character 22")]
    [InlineData("https://example.com/\u202egnp.exe", "an invisible formatting character (U+202E) at character 21")]
    [InlineData("https://evil.example\\\\@good.example/a.png", "a backslash (U+005C) at character 21")]
    public void UrlsWithWhitespaceControlCharactersOrBackslashes_AreFaults(string jsonText, string fault)
    {
        var image = InspectRawJson($"\"{jsonText}\"");

        Assert.StartsWith("must be a URL with no whitespace, control character or backslash", image.Fault);
        Assert.Contains(fault, image.Fault);
        Assert.Null(image.Url);
    }

    [Theory]
    [InlineData("https://user:secret@example.com/a.png")]
    [InlineData("https://user@example.com/a.png")]
    public void UrlsWithCredentials_AreFaults(string url)
    {
        var image = Inspect(url);

        Assert.StartsWith("must be a URL without credentials", image.Fault);
        Assert.Null(image.Url);
    }

    [Fact]
    public void UrlsLongerThanRfc9110Recommends_AreFaults()
    {
        var url = "https://example.com/" + new string('a', ImageInspector.MaxUrlBytes);

        var image = Inspect(url);

        Assert.Equal($"must be a URL of at most 8000 bytes (RFC 9110, section 4.1); this one is {url.Length} bytes.", image.Fault);
        Assert.Null(Inspect("https://example.com/" + new string('a', ImageInspector.MaxUrlBytes - 20)).Fault);
    }

    [Theory]
    [InlineData("https://example.com/caf\u00e9.png")]
    [InlineData("https://xn--caf-dma.example/a.png?X-Amz-Signature=abc%20def&X-Amz-Credential=AKIA%2F20260101")]
    public void IrisAndSignedUrls_AreKept(string jsonText)
    {
        var image = InspectRawJson($"\"{jsonText}\"");

        Assert.Null(image.Fault);
        Assert.NotNull(image.Url);
    }
}
