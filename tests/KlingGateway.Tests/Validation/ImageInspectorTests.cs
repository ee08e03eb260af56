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
        var bytes = TestImages.Png(640, 640, totalBytes: 100); // 100 bytes: base64 ends with "=="
        var base64 = TestImages.Base64(bytes);

        var image = Inspect(base64.TrimEnd('='));

        Assert.Null(image.Fault);
        Assert.Equal(100, image.Data!.DecodedBytes);
    }

    [Fact]
    public void ShortDataSmallerThanTheSniffWindow_IsReadAsItIs()
    {
        var image = Inspect(TestImages.Base64([0xFF, 0xD8, 0xFF, 0xD9]));

        Assert.Equal("jpeg", image.Data!.Format);
        Assert.Contains("no frame header", image.Fault);
    }
}
