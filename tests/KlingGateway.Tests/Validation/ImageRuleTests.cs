using System.Security.Cryptography;
using KlingGateway.Models;
using static KlingGateway.Tests.Validation.Requests;

namespace KlingGateway.Tests.Validation;

/// <summary>Kling's limits on base64 images (≤ 10 MB, ≥ 300 px, first frame 1:2.5 .. 2.5:1) on every image field.</summary>
public sealed class ImageRuleTests
{
    private const int TenMegabytes = 10 * 1024 * 1024;

    /// <summary>(model, key, body with <c>IMAGE</c> where the image goes).</summary>
    public static TheoryData<string, string, string> ImageFields()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var model in All)
        {
            data.Add(model, "image_url", $$"""{"model":"{{model}}","image_url":"IMAGE"}""");
            data.Add(model, "static_mask", Body(model, "\"static_mask\":\"IMAGE\""));
            data.Add(model, "dynamic_masks[0].mask", Body(model, "\"dynamic_masks\":[{\"mask\":\"IMAGE\",\"trajectories\":" + Points(2) + "}]"));
        }

        foreach (var model in V1)
        {
            data.Add(model, "tail_image_url", Body(model, "\"tail_image_url\":\"IMAGE\""));
        }

        return data;
    }

    private static FluentValidation.Results.ValidationResult WithImage(string template, string image) =>
        Validate(template.Replace("IMAGE", image, StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(ImageFields))]
    public void ValidPngJpegAndUrl_AreAccepted(string model, string key, string template)
    {
        _ = (model, key);
        WithImage(template, TestImages.Base64(TestImages.Png(300, 300))).AssertNoErrors();
        WithImage(template, TestImages.DataUri("image/jpeg", TestImages.Jpeg(750, 300))).AssertNoErrors();
        WithImage(template, "https://cdn.example.com/frames/1.png?sig=abc").AssertNoErrors();
    }

    [Theory]
    [MemberData(nameof(ImageFields))]
    public void SideUnder300Px_IsAFault(string model, string key, string template)
    {
        _ = model;
        WithImage(template, TestImages.Base64(TestImages.Png(299, 400)))
            .AssertError(key, "must be at least 300 px on each side", "this image is 299×400");
        WithImage(template, TestImages.Base64(TestImages.Jpeg(400, 299)))
            .AssertError(key, "at least 300 px", "400×299");
    }

    [Theory]
    [MemberData(nameof(ImageFields))]
    public void SideOver16384Px_IsAFault(string model, string key, string template)
    {
        _ = model;
        WithImage(template, TestImages.Base64(TestImages.Png(16385, 16384)))
            .AssertError(key, "must be at most 16384 px on each side", "this image is 16385×16384");
        WithImage(template, TestImages.Base64(TestImages.Jpeg(20000, 8000)))
            .AssertError(key, "at most 16384 px", "20000×8000");
        WithImage(template, TestImages.Base64(TestImages.Png(16384, 16384))).AssertNoErrors();
    }

    [Theory]
    [MemberData(nameof(ImageFields))]
    public void HeaderAloneOrUnsafeUrl_IsAFault(string model, string key, string template)
    {
        _ = model;
        WithImage(template, TestImages.Base64(TestImages.PngHeaderOnly(int.MaxValue, int.MaxValue)))
            .AssertError(key, "a header alone");
        WithImage(template, "https://example.com/a.png\\r\\nX-Injected: 1")
            .AssertError(key, "no whitespace, control character or backslash", "U+000D");
    }

    [Theory]
    [MemberData(nameof(ImageFields))]
    public void NotJpegOrPng_IsAFaultNamingTheFormat(string model, string key, string template)
    {
        _ = model;
        WithImage(template, TestImages.Base64(TestImages.Gif())).AssertError(key, "must be JPEG or PNG image data; the data is GIF");
        WithImage(template, TestImages.Base64(TestImages.WebP())).AssertError(key, "the data is WebP");
        WithImage(template, TestImages.DataUri("image/jpeg", TestImages.Png(600, 600)))
            .AssertError(key, "is declared as image/jpeg but the data is PNG");
        WithImage(template, "not-an-image").AssertError(key, "must be an absolute http(s) URL or base64 JPEG/PNG data");
        WithImage(template, "//cdn.example.com/a.png").AssertError(key, "must be an absolute http(s) URL or base64 JPEG/PNG data");
    }

    [Theory]
    [MemberData(nameof(ImageFields))]
    public void SizeOver10Megabytes_IsAFaultAtExactlyOneByteOver(string model, string key, string template)
    {
        _ = model;
        WithImage(template, TestImages.Base64(TestImages.Png(1000, 1000, TenMegabytes))).AssertNoErrors();
        WithImage(template, TestImages.Base64(TestImages.Png(1000, 1000, TenMegabytes + 1)))
            .AssertError(key, "must be at most 10 MB (10485760 bytes) of image data", "this image is 10485761 bytes");
    }

    public static TheoryData<string, int, int, bool> AspectCases()
    {
        var data = new TheoryData<string, int, int, bool>();
        foreach (var model in All)
        {
            data.Add(model, 750, 300, true);
            data.Add(model, 300, 750, true);
            data.Add(model, 751, 300, false);
            data.Add(model, 300, 751, false);
            data.Add(model, 2500, 1000, true);
            data.Add(model, 2501, 1000, false);
            data.Add(model, 1000, 2501, false);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AspectCases))]
    public void FirstFrameAspect_IsWithin1To2Point5(string model, int width, int height, bool accepted)
    {
        var result = Validate($$"""{"model":"{{model}}","image_url":"{{TestImages.Base64(TestImages.Jpeg(width, height))}}"}""");

        if (accepted)
        {
            result.AssertNoErrors();
        }
        else
        {
            result.AssertError("image_url", "must have an aspect ratio (width:height) between 1:2.5 and 2.5:1", $"this image is {width}×{height}");
        }
    }

    [Theory]
    [MemberData(nameof(V1Models))]
    public void TailFrameAndMasks_HaveNoAspectRule(string model)
    {
        var wide = TestImages.Base64(TestImages.Png(3000, 300));

        Validate(Body(model, $"\"tail_image_url\":\"{wide}\"")).AssertNoErrors();
        Validate(Body(model, $"\"static_mask\":\"{wide}\"")).AssertNoErrors();
    }

    public static TheoryData<string> V1Models() => [.. V1];

    [Fact]
    public void ImageFaultMessages_NeverEchoTheData()
    {
        var gif = TestImages.Base64(TestImages.Gif());
        var huge = TestImages.Base64(TestImages.Png(1000, 1000, TenMegabytes + 3));

        var result = Validate($$"""{"model":"{{V1Pro}}","image_url":"{{gif}}","tail_image_url":"{{huge}}","static_mask":"@@@{{gif}}"}""");

        Assert.Equal(4, result.Errors().Count); // three image faults, and the tail frame with a mask conflict
        Assert.All(result.Errors(), f =>
        {
            Assert.DoesNotContain(gif[..12], f.ErrorMessage);
            Assert.DoesNotContain(huge[..12], f.ErrorMessage);
            Assert.True(f.ErrorMessage.Length < 200, f.ErrorMessage);
        });
    }

    [Fact]
    public void Images_AreListedWithPathsAndHashes()
    {
        var png = TestImages.Png(640, 480);
        var jpeg = TestImages.Jpeg(640, 480);
        using var request = Parse(Body(V1Standard, $$"""
            "static_mask":"data:image/png;base64,{{TestImages.Base64(png)}}",
            "dynamic_masks":[{"mask":"{{Url}}","trajectories":[]},{"mask":"{{TestImages.Base64(jpeg)}}","trajectories":[]}]
            """));

        Assert.Equal(["image_url", "static_mask", "dynamic_masks[0].mask", "dynamic_masks[1].mask"], request.Images.Select(i => i.Path));
        Assert.Equal(Url, request.Image("image_url")!.Url);
        Assert.Equal(22, request.Image("static_mask")!.DataUriPrefixLength);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(png)), request.Image("static_mask")!.Data!.Sha256Hex);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(jpeg)), request.Image("dynamic_masks[1].mask")!.Data!.Sha256Hex);
    }

    [Fact]
    public void Summary_ReplacesImageDataWithHashesAndKeepsUrls()
    {
        var png = TestImages.Png(1280, 720, totalBytes: 50_000);
        var base64 = TestImages.Base64(png);
        using var request = Parse($$"""
            {"model":"{{V1Pro}}","image_url":"data:image/png;base64,{{base64}}","tail_image_url":"{{Url}}",
             "prompt":"a cat","duration":"5","dynamic_masks":[{"mask":"{{base64}}","trajectories":[{"x":1,"y":2}]}],
             "static_mask":"@@{{base64}}","unknown":"{{base64}}"}
            """);

        var summary = request.Summary();

        var hash = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(png));
        Assert.Equal(
            $$"""{"model":"{{V1Pro}}","image_url":"{{hash}}","tail_image_url":"{{Url}}","prompt":"a cat","duration":"5",""" +
            $$$"""
            "dynamic_masks":[{"mask":"{{{hash}}}","trajectories":[{"x":1,"y":2}]}],"static_mask":"(not an image: {{{base64.Length + 2}}} bytes)","unknown":"({{{base64.Length}}} bytes omitted)"}
            """,
            summary);
        Assert.DoesNotContain(base64[..40], summary);
    }

    [Fact]
    public void SevenMegabyteBase64Png_IsAcceptedWithItsExactSizeAndHash()
    {
        var png = TestImages.Png(4000, 3000, 5 * 1024 * 1024);
        var json = TestImages.Utf8($$"""{"model":"{{V21Pro}}","image_url":"{{TestImages.Base64(png)}}"}""");

        using var request = GenerationRequest.Parse(json, CreateRoute.Gateway);

        Assert.True(new GenerationRequestValidator().Validate(request).IsValid);
        var image = Assert.Single(request.Images).Data!;
        Assert.Equal((4000, 3000, png.LongLength), (image.Width, image.Height, image.DecodedBytes));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(png)), image.Sha256Hex);
    }
}
