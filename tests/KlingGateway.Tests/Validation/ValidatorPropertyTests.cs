using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;
using static KlingGateway.Tests.Validation.Requests;

namespace KlingGateway.Tests.Validation;

/// <summary>
/// Properties over generated JSON: any value in any field of a create body (and any body at all) is parsed and
/// validated into a refusal or findings, never an exception; a body found valid can be summarized and forwarded; and
/// through the gateway every such body is answered 2xx or 4xx, never 5xx.
/// </summary>
public sealed class ValidatorPropertyTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    private static readonly GenerationRequestValidator Validator = new();

    /// <summary>Every place a value can go: each field any model takes, and the places inside masks and camera control.</summary>
    private static readonly string[] Places =
    [
        .. CatalogShapes.AllFields.Select(f => f.Name), "camera_control.type", "camera_control.config", "camera_control.config.zoom",
        "camera_control.config.pan", "dynamic_masks[0]", "dynamic_masks[0].mask", "dynamic_masks[0].trajectories",
        "dynamic_masks[0].trajectories[0]", "dynamic_masks[0].trajectories[0].x", "dynamic_masks[0].trajectories[1].y", "unknown_field",
    ];

    [Fact]
    public void AnyValueInAnyField_IsARefusalOrFindingsNeverAnException() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(3_000), Prop.ForAll(Arb.From(BodyWithAnyValue()), Holds));

    [Fact]
    public void AnyJsonBody_IsARefusalOrFindingsNeverAnException() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2_000), Prop.ForAll(Arb.From(JsonValue(4)), Holds));

    [Fact]
    public async Task AnyValueInAnyField_ThroughTheGateway_Is2xxOr4xxWithACatalogProblem()
    {
        var client = gateway.CreateClient();
        var bodies = Gen.Sample(BodyWithAnyValue(), 300);
        var statuses = new Dictionary<int, int>();
        foreach (var (place, body, route) in bodies)
        {
            var path = route switch { CreateRoute.Legacy => "/v2/generate/video/kling/generation", CreateRoute.Universal => "/v2/video/generations", _ => "/v1/generations" };
            using var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            Assert.True(status is >= 200 and < 300 or >= 400 and < 500, $"{status} for {place}: {body[..Math.Min(body.Length, 300)]}");
            if (status >= 400)
            {
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                var code = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
                Assert.True(ProblemCatalog.Find(code) is { } problem && problem.Status == status, $"{status} with code {code}");
            }
        }

        // Generated bodies reach both outcomes, or the property would say little.
        Assert.Contains(statuses.Keys, s => s is >= 200 and < 300);
        Assert.Contains(statuses.Keys, s => s is 400);
    }

    private static void Holds((string Place, string Json, CreateRoute Route) input) => Holds(input.Json, input.Route);

    private static void Holds(string json) => Holds(json, CreateRoute.Gateway);

    /// <summary>Throws (and so falsifies the property, showing the body) unless the body is refused or judged cleanly.</summary>
    private static void Holds(string json, CreateRoute route)
    {
        using var request = GenerationRequest.Parse(Encoding.UTF8.GetBytes(json), route);
        if (request.Rejection != RequestRejection.None)
        {
            Assert.False(string.IsNullOrEmpty(request.RejectionDetail));
            return;
        }

        var result = Validator.Validate(request);
        var errors = result.Errors.Where(f => f.Severity == FluentValidation.Severity.Error).ToList();
        if (errors.Count > 0)
        {
            Assert.All(errors, f => Assert.StartsWith(f.PropertyName + " ", f.ErrorMessage, StringComparison.Ordinal));
            return;
        }

        // Valid: what the gateway does with a valid body next must work too.
        Assert.NotEmpty(request.Summary());
        using var forwarded = new MemoryStream();
        new ForwardedBody(request, route == CreateRoute.Legacy ? UpstreamRouteFamily.Legacy : UpstreamRouteFamily.Universal).CopyToAsync(forwarded).GetAwaiter().GetResult();
        using var sent = JsonDocument.Parse(forwarded.ToArray());
        Assert.Equal(JsonValueKind.Object, sent.RootElement.ValueKind);
    }

    /// <summary>A valid v1 body with one place set to any JSON value (or, for the last place, an unknown field added).</summary>
    private static Gen<(string Place, string Json, CreateRoute Route)> BodyWithAnyValue() =>
        from place in Gen.Elements(Places)
        from value in JsonValue(3)
        from model in Gen.Elements(All)
        from route in Gen.Elements(CreateRoute.Gateway, CreateRoute.Universal, CreateRoute.Legacy)
        select (place, Place(model, place, value), route);

    private static string Place(string model, string place, string value)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["model"] = $"\"{model}\"",
            ["image_url"] = $"\"{Url}\"",
        };
        switch (place)
        {
            case "camera_control.type":
                fields["camera_control"] = $$$"""{"type":{{{value}}},"config":{"zoom":1}}""";
                break;
            case "camera_control.config":
                fields["camera_control"] = $$"""{"type":"simple","config":{{value}}}""";
                break;
            case "camera_control.config.zoom" or "camera_control.config.pan":
                fields["camera_control"] = $$$"""{"type":"simple","config":{"{{{place[22..]}}}":{{{value}}}}}""";
                break;
            case "dynamic_masks[0]":
                fields["dynamic_masks"] = $"[{value}]";
                break;
            case "dynamic_masks[0].mask":
                fields["dynamic_masks"] = $$"""[{"mask":{{value}},"trajectories":[{"x":1,"y":1},{"x":2,"y":2}]}]""";
                break;
            case "dynamic_masks[0].trajectories":
                fields["dynamic_masks"] = $$"""[{"mask":"{{Url}}","trajectories":{{value}}}]""";
                break;
            case "dynamic_masks[0].trajectories[0]":
                fields["dynamic_masks"] = $$"""[{"mask":"{{Url}}","trajectories":[{{value}},{"x":2,"y":2}]}]""";
                break;
            case "dynamic_masks[0].trajectories[0].x":
                fields["dynamic_masks"] = $$"""[{"mask":"{{Url}}","trajectories":[{"x":{{value}},"y":1},{"x":2,"y":2}]}]""";
                break;
            case "dynamic_masks[0].trajectories[1].y":
                fields["dynamic_masks"] = $$$"""[{"mask":"{{{Url}}}","trajectories":[{"x":1,"y":1},{"x":2,"y":{{{value}}}}]}]""";
                break;
            default:
                fields[place] = value;
                break;
        }

        return "{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}";
    }

    /// <summary>Any JSON value, as text: scalars of every kind at and past their ranges, and nested arrays and objects.</summary>
    private static Gen<string> JsonValue(int depth) => depth <= 0
        ? Scalar()
        : Gen.Frequency(
            (6, Scalar()),
            (1, Gen.ListOf(JsonValue(depth - 1)).Select(items => "[" + string.Join(",", items.Take(8)) + "]")),
            (1, Gen.ListOf(Member(depth - 1)).Select(members => "{" + string.Join(",", members.Take(8)) + "}")));

    private static Gen<string> Member(int depth) =>
        from name in Gen.OneOf(Gen.Elements(Places.Concat(["x", "y", "mask", "trajectories", "type", "config", "zoom"]).ToArray()), Text())
        from value in JsonValue(depth)
        select $"{name}:{value}";

    private static Gen<string> Scalar() => Gen.OneOf(
        Gen.Elements("null", "true", "false"),
        Number(),
        Text(),
        Gen.Elements(Interesting));

    private static Gen<string> Number() => Gen.OneOf(
        Gen.Elements("0", "-0", "5", "10", "5.0", "10e0", "0.5", "1", "-1", "1.5", "-10", "10.000001", "1e400", "-1e400", "1e-400",
            "2147483647", "2147483648", "-2147483649", "9223372036854775808", "1e308", "4.9e-324", new string('9', 400), "0." + new string('0', 400) + "1"),
        ArbMap.Default.GeneratorFor<int>().Select(i => i.ToString(CultureInfo.InvariantCulture)),
        ArbMap.Default.GeneratorFor<NormalFloat>().Select(d => d.Get.ToString("R", CultureInfo.InvariantCulture)));

    /// <summary>Strings: any text JSON-encoded (controls, surrogates and all), and escapes of lone surrogates.</summary>
    private static Gen<string> Text() => Gen.OneOf(
        ArbMap.Default.GeneratorFor<string>().Select(s => JsonSerializer.Serialize(s ?? "")),
        ArbMap.Default.GeneratorFor<char>().Select(c => $"\"\\u{(int)c:x4}\""),
        Gen.Elements("\"\\ud800\"", "\"a\\udfffb\"", "\"\\ud83d\\ude00\""));

    private static readonly string[] Interesting =
    [
        "\"5\"", "\"10\"", "\"simple\"", "\"down_back\"", "\"auto\"", "\"KLING\"", "\"image-to-video\"", "\"\"",
        $"\"{Url}\"", "\"https://example.com/a b.png\"", "\"https://u:p@example.com/a.png\"", "\"ftp://x\"", "\"data:image/png;base64,\"",
        $"\"{TestImages.ValidPng}\"", $"\"{TestImages.ValidJpeg}\"", $"\"data:image/png;base64,{TestImages.Base64(TestImages.PngHeaderOnly(int.MaxValue, 1))}\"",
        $"\"{V1Pro}\"", $"\"{V2Master}\"", $"\"{new string('a', 3000)}\"",
    ];
}
