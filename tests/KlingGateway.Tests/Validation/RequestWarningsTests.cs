using KlingGateway.Generations;
using KlingGateway.Models;
using static KlingGateway.Tests.Validation.Requests;

namespace KlingGateway.Tests.Validation;

/// <summary>
/// A request reads its own warnings from its body with the catalog's rules: nothing outside it sets them, and the
/// validator reports exactly those.
/// </summary>
public sealed class RequestWarningsTests
{
    public static TheoryData<string> V2Models() => [.. V2];

    [Theory]
    [MemberData(nameof(V2Models))]
    public void AV2Body_CarriesItsWarningsOnceParsed_InBodyOrderAndOnceEach(string model)
    {
        using var request = Parse(Body(model, """
            "camera_control":{"type":"forward_up"},"prompt":"a","cfg_scale":0.5,"static_mask":null,"cfg_scale":0.7
            """));

        var warning = ModelCatalog.Find(model)!.Field("cfg_scale")!.IgnoredWarning!;
        Assert.Equal(
            [new GenerationWarning("camera_control", warning), new GenerationWarning("cfg_scale", warning)],
            request.Warnings);
    }

    [Theory]
    [MemberData(nameof(V2Models))]
    public void TheValidator_ReportsTheRequestsOwnWarnings(string model)
    {
        var json = Body(model, "\"dynamic_masks\":null,\"cfg_scale\":1,\"static_mask\":\"https://example.com/m.png\"");
        using var request = Parse(json);

        var reported = Validate(json).Warnings().Select(w => new GenerationWarning(w.PropertyName, w.ErrorMessage));

        Assert.Equal(request.Warnings, reported);
        Assert.Equal(["cfg_scale", "static_mask"], request.Warnings.Select(w => w.Field));
    }

    [Fact]
    public void AV1Body_AndAnUnknownModel_HaveNoWarnings()
    {
        using var v1 = Parse(Body(V1Pro, "\"cfg_scale\":0.5,\"camera_control\":{\"type\":\"forward_up\"}"));
        using var unknown = Parse(Body("kling-video/v9/image-to-video", "\"cfg_scale\":0.5"));

        Assert.Empty(v1.Warnings);
        Assert.Empty(unknown.Warnings);
    }
}
