using KlingGateway.Models;
using static KlingGateway.Tests.Validation.Requests;

namespace KlingGateway.Tests.Validation;

public sealed class GenerationRequestValidatorTests
{
    private static readonly string Png = TestImages.ValidPng;
    private static readonly string LongText = new('a', 2501);
    private const string CameraTypes = "simple, down_back, forward_up, right_turn_forward, left_turn_forward";

    /// <summary>(scope, extra fields, error key, message fragments separated by '|'); scope is all, v1, v2 or master.</summary>
    private static readonly (string Scope, string Fields, string Key, string Fragments)[] Faults =
    [
        // Unknown fields, at any depth, named with what the model takes.
        ("all", "\"cfg\":0.5", "cfg", "is not a known field|did you mean cfg_scale?|takes: model, image_url, prompt"),
        ("all", "\"aspect_ratio\":\"16:9\"", "aspect_ratio", "is not a known field|takes: model, image_url"),
        ("all", "\"camera_control\":{\"type\":\"simple\",\"config\":{\"zoomm\":1}}", "camera_control.config.zoomm",
            "is not a known field|did you mean zoom?|horizontal, vertical, pan, tilt, roll, zoom"),
        ("all", "\"camera_control\":{\"type\":\"down_back\",\"speed\":1}", "camera_control.speed", "is not a known field|type, config"),
        ("all", "\"dynamic_masks\":[{\"mask\":\"" + Url + "\",\"trajectories\":" + Points(2) + ",\"foo\":1}]", "dynamic_masks[0].foo",
            "is not a known field|mask, trajectories"),
        ("all", "\"dynamic_masks\":[" + Mask("[{\"x\":1,\"y\":1,\"z\":1},{\"x\":2,\"y\":2}]") + "]", "dynamic_masks[0].trajectories[0].z",
            "is not a known field|x, y"),
        ("all", "\"prompt\":\"a\",\"prompt\":\"b\"", "prompt", "more than once"),
        // Legacy-route fields on other routes.
        ("all", "\"type\":\"image-to-video\"", "type", "only on the legacy route (POST /v2/generate/video/kling/generation)"),
        ("all", "\"external_task_id\":\"abc\"", "external_task_id", "only on the legacy route"),
        // Wrong types, named with what is allowed.
        ("all", "\"cfg_scale\":\"0.5\"", "cfg_scale", "must be a number between 0 and 1|got a string"),
        ("all", "\"cfg_scale\":true", "cfg_scale", "must be a number between 0 and 1|got a boolean"),
        ("all", "\"prompt\":5", "prompt", "must be a string of at most 2500 characters|got a number"),
        ("all", "\"negative_prompt\":[\"x\"]", "negative_prompt", "must be a string of at most 2500 characters|got an array"),
        ("all", "\"image_url\":5", "image_url", "must be an absolute http(s) URL or base64 JPEG/PNG data|got a number"),
        // Ranges and lengths.
        ("all", "\"cfg_scale\":1.5", "cfg_scale", "must be a number between 0 and 1|got 1.5"),
        ("all", "\"cfg_scale\":-0.01", "cfg_scale", "must be a number between 0 and 1"),
        ("all", "\"prompt\":\"" + LongText + "\"", "prompt", "must be at most 2500 characters; it has 2501"),
        ("all", "\"negative_prompt\":\"" + LongText + "\"", "negative_prompt", "must be at most 2500 characters; it has 2501"),
        // Duration: 5 or 10, as a number or a string.
        ("all", "\"duration\":7", "duration", "must be 5 or 10, as a number (5) or a string (\"5\")|got 7"),
        ("all", "\"duration\":\"7\"", "duration", "must be 5 or 10|got \"7\""),
        ("all", "\"duration\":\"05\"", "duration", "must be 5 or 10"),
        ("all", "\"duration\":5.5", "duration", "must be 5 or 10"),
        ("all", "\"duration\":\"5.0\"", "duration", "must be 5 or 10"),
        ("all", "\"duration\":true", "duration", "must be 5 or 10|got a boolean"),
        // model.
        ("all", "\"model\":\"kling-video/v9/image-to-video\"", "model", "must be one of the supported models|" + V1Standard + "|" + V21Pro),
        // Images.
        ("all", "\"static_mask\":\"ftp://example.com/m.png\"", "static_mask", "must be an absolute http(s) URL or base64 JPEG/PNG data"),
        ("all", "\"dynamic_masks\":[" + "{\"mask\":\"not an image\",\"trajectories\":" + Points(2) + "}]", "dynamic_masks[0].mask",
            "must be an absolute http(s) URL or base64 JPEG/PNG data"),
        // Dynamic masks.
        ("all", "\"dynamic_masks\":{}", "dynamic_masks", "must be an array of at most 6 {mask, trajectories} objects|got an object"),
        ("all", "\"dynamic_masks\":[" + string.Join(",", Enumerable.Repeat(Mask(Points(2)), 7)) + "]", "dynamic_masks", "at most 6 items; it has 7"),
        ("all", "\"dynamic_masks\":[5]", "dynamic_masks[0]", "must be an object {mask, trajectories}"),
        ("all", "\"dynamic_masks\":[{\"trajectories\":" + Points(2) + "}]", "dynamic_masks[0].mask", "is required|URL or base64"),
        ("all", "\"dynamic_masks\":[{\"mask\":\"" + Url + "\"}]", "dynamic_masks[0].trajectories", "is required|2 to 77 {x, y} points"),
        ("all", "\"dynamic_masks\":[" + Mask(Points(2)) + "," + Mask(Points(1)) + "]", "dynamic_masks[1].trajectories",
            "must be an array of 2 to 77 {x, y} points|it has 1"),
        ("all", "\"dynamic_masks\":[" + Mask(Points(78)) + "]", "dynamic_masks[0].trajectories", "2 to 77|it has 78"),
        ("all", "\"dynamic_masks\":[" + Mask("{}") + "]", "dynamic_masks[0].trajectories", "must be an array of 2 to 77|got an object"),
        ("all", "\"dynamic_masks\":[" + Mask(Points(2)) + "," + Mask("[{\"x\":1,\"y\":1},{\"x\":2,\"y\":2},{\"x\":3,\"y\":3},{\"x\":1.5,\"y\":2}]") + "]",
            "dynamic_masks[1].trajectories[3].x", "must be an integer pixel coordinate|got 1.5"),
        ("all", "\"dynamic_masks\":[" + Mask("[{\"x\":1,\"y\":1},{\"x\":\"2\",\"y\":2}]") + "]", "dynamic_masks[0].trajectories[1].x",
            "must be an integer|got a string"),
        ("all", "\"dynamic_masks\":[" + Mask("[{\"x\":1},{\"x\":2,\"y\":2}]") + "]", "dynamic_masks[0].trajectories[0].y", "is required|integer"),
        ("all", "\"dynamic_masks\":[" + Mask("[{\"x\":1,\"y\":1},[2,2]]") + "]", "dynamic_masks[0].trajectories[1]", "must be an object {x, y}"),
        // Camera control.
        ("all", "\"camera_control\":\"simple\"", "camera_control", "must be an object {type, config}|" + CameraTypes),
        ("all", "\"camera_control\":{\"type\":\"zoom_in\"}", "camera_control.type", "must be one of " + CameraTypes + "|got \"zoom_in\""),
        ("all", "\"camera_control\":{\"config\":{\"zoom\":1}}", "camera_control.type", "is required|" + CameraTypes),
        ("all", "\"camera_control\":{\"type\":\"simple\"}", "camera_control.config",
            "is required with type simple|exactly one of horizontal, vertical, pan, tilt, roll, zoom|between -10 and 10"),
        ("all", "\"camera_control\":{\"type\":\"simple\",\"config\":{\"zoom\":1,\"pan\":2}}", "camera_control.config",
            "exactly one non-zero value with type simple|it has 2"),
        ("all", "\"camera_control\":{\"type\":\"simple\",\"config\":{\"zoom\":0}}", "camera_control.config", "exactly one non-zero|it has 0"),
        ("all", "\"camera_control\":{\"type\":\"simple\",\"config\":{\"zoom\":11}}", "camera_control.config.zoom", "must be a number between -10 and 10|got 11"),
        ("all", "\"camera_control\":{\"type\":\"simple\",\"config\":{\"roll\":-10.5}}", "camera_control.config.roll", "between -10 and 10"),
        ("all", "\"camera_control\":{\"type\":\"simple\",\"config\":{\"tilt\":\"1\"}}", "camera_control.config.tilt", "must be a number between -10 and 10|got a string"),
        ("all", "\"camera_control\":{\"type\":\"simple\",\"config\":[1]}", "camera_control.config", "must be an object|got an array"),
        ("all", "\"camera_control\":{\"type\":\"down_back\",\"config\":{\"zoom\":1}}", "camera_control.config",
            "must be empty or left out with type down_back|only for type simple"),
        ("all", "\"camera_control\":{\"type\":\"forward_up\",\"config\":{\"zoom\":0}}", "camera_control.config", "must be empty"),
        // Per-model fields.
        ("v2", "\"tail_image_url\":\"" + Url + "\"", "tail_image_url", "is not taken by|this model has no tail frame|It takes: model, image_url"),
        ("v1", "\"provider\":\"fal\"", "provider", "is not taken by|this model has no provider choice"),
        ("master", "\"provider\":\"openai\"", "provider", "must be one of auto, kling, klingai, fal, in any case|got \"openai\""),
        ("master", "\"provider\":1", "provider", "must be one of auto, kling, klingai, fal|got a number"),
        ("v1", "\"tail_image_url\":\"http:/broken\"", "tail_image_url", "must be an absolute http(s) URL or base64 JPEG/PNG data"),
        // Only one of tail frame, masks, camera control on Kling v1.
        ("v1", "\"tail_image_url\":\"" + Url + "\",\"camera_control\":{\"type\":\"down_back\"}", "camera_control",
            "cannot be combined with tail_image_url|takes only one of: tail_image_url; static_mask or dynamic_masks; camera_control"),
        ("v1", "\"tail_image_url\":\"" + Url + "\",\"static_mask\":\"" + Url + "\"", "static_mask", "cannot be combined with tail_image_url"),
        ("v1", "\"static_mask\":\"" + Url + "\",\"camera_control\":{\"type\":\"down_back\"}", "camera_control",
            "cannot be combined with static_mask"),
        ("v1", "\"dynamic_masks\":[" + Mask(Points(2)) + "],\"camera_control\":{\"type\":\"down_back\"}", "camera_control",
            "cannot be combined with dynamic_masks"),
        // Kling v1 does a tail frame or masks only at 5 s.
        ("v1", "\"tail_image_url\":\"" + Url + "\",\"duration\":10", "duration",
            "must be 5 when tail_image_url is given|only at 5 s|got 10"),
        ("v1", "\"static_mask\":\"" + Url + "\",\"duration\":\"10\"", "duration", "must be 5 when static_mask is given"),
        ("v1", "\"dynamic_masks\":[" + Mask(Points(2)) + "],\"duration\":10.0", "duration", "must be 5 when dynamic_masks is given"),
    ];

    public static TheoryData<string, string, string, string> FaultCases()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var (scope, fields, key, fragments) in Faults)
        {
            var models = scope switch
            {
                "v1" => V1,
                "v2" => V2,
                "master" => [V2Master],
                _ => All,
            };
            foreach (var model in models)
            {
                // A case that sets model replaces the default one, so it runs once.
                if (fields.StartsWith("\"model\"", StringComparison.Ordinal))
                {
                    data.Add("(none)", fields, key, fragments);
                    break;
                }

                data.Add(model, fields, key, fragments);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FaultCases))]
    public void EveryRule_IsReportedAtItsPathNamingWhatIsAllowed(string model, string fields, string key, string fragments)
    {
        var json = model == "(none)" ? "{\"image_url\":\"" + Url + "\"," + fields + "}"
            : fields.StartsWith("\"image_url\"", StringComparison.Ordinal) ? BodyWithoutImage(model, fields)
            : Body(model, fields);

        var result = Validate(json);

        var failure = result.AssertError(key, fragments.Split('|'));
        Assert.True(failure.ErrorMessage.Length < 600, "Messages stay short: " + failure.ErrorMessage);
    }

    public static TheoryData<string> AllModels() => [.. All];

    public static TheoryData<string> V1Models() => [.. V1];

    public static TheoryData<string> V2Models() => [.. V2];

    [Theory]
    [MemberData(nameof(AllModels))]
    public void MinimalRequest_HasNoErrorsOrWarnings(string model)
    {
        var result = Validate(Body(model));

        Assert.Empty(result.Errors);
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void FullRequest_HasNoErrors(string model)
    {
        var provider = model == V2Master ? ",\"provider\":\"KlingAI\"" : "";
        var json = BodyWithoutImage(model,
            $$$"""
            "image_url":"data:image/png;base64,{{{Png}}}","prompt":"a cat on a skateboard","negative_prompt":"blur",
            "duration":"10","cfg_scale":0.5,"camera_control":{"type":"simple","config":{"horizontal":0,"zoom":-2.5,"pan":null}}{{{provider}}}
            """);

        Validate(json).AssertNoErrors();
    }

    [Theory]
    [MemberData(nameof(V1Models))]
    public void V1WithTailFrameAtFiveSeconds_HasNoErrorsOrWarnings(string model)
    {
        var result = Validate(Body(model, $$$"""
            "tail_image_url":"{{{TestImages.ValidJpeg}}}","duration":5,"prompt":"x","cfg_scale":0,"camera_control":null
            """));

        Assert.Empty(result.Errors);
    }

    [Theory]
    [MemberData(nameof(V1Models))]
    public void V1WithMasksAtFiveSeconds_HasNoErrorsOrWarnings(string model)
    {
        var mask = TestImages.Base64(TestImages.Png(1280, 720));
        var result = Validate(Body(model, $$$"""
            "static_mask":"{{{mask}}}","dynamic_masks":[{"mask":"{{{mask}}}","trajectories":{{{Points(77)}}}},{"mask":"{{{Url}}}","trajectories":[{"x":1.0,"y":-2},{"x":3,"y":4}]}],
            "duration":"5"
            """));

        Assert.Empty(result.Errors);
    }

    [Theory]
    [MemberData(nameof(V1Models))]
    public void V1WithOtherCameraTypesAndEmptyConfig_HasNoErrors(string model)
    {
        foreach (var type in ModelCatalog.CameraTypes.Skip(1))
        {
            Validate(Body(model, $$$"""
                "camera_control":{"type":"{{{type}}}","config":{}},"duration":10
                """)).AssertNoErrors();
            Validate(Body(model, $$$"""
                "camera_control":{"type":"{{{type}}}","config":null}
                """)).AssertNoErrors();
        }
    }

    [Theory]
    [MemberData(nameof(V2Models))]
    public void IgnoredFieldsOnV2_AreWarningsWithTheCatalogMessage(string model)
    {
        var result = Validate(Body(model, $$$"""
            "cfg_scale":0.5,"static_mask":"{{{Url}}}","dynamic_masks":[{{{Mask(Points(2))}}}],
            "camera_control":{"type":"simple","config":{"zoom":5}},"duration":10
            """));

        // No exclusive groups or duration limits on v2: the upstream ignores these fields there.
        result.AssertNoErrors();
        var expected = ModelCatalog.Find(model)!.Field("cfg_scale")!.IgnoredWarning;
        Assert.Equal(
            ["cfg_scale", "static_mask", "dynamic_masks", "camera_control"],
            result.Warnings().Select(w => w.PropertyName));
        Assert.All(result.Warnings(), w => Assert.Equal(expected, w.ErrorMessage));
    }

    [Theory]
    [MemberData(nameof(V2Models))]
    public void IgnoredFieldsOnV2_AreStillFullyValidated(string model)
    {
        var result = Validate(Body(model, """
            "cfg_scale":2,"camera_control":{"type":"simple","config":{"zoom":5,"pan":1}}
            """));

        result.AssertError("cfg_scale", "between 0 and 1");
        result.AssertError("camera_control.config", "exactly one non-zero");
        Assert.Contains(result.Warnings(), w => w.PropertyName == "cfg_scale");
    }

    [Theory]
    [MemberData(nameof(V2Models))]
    public void NullIgnoredFieldOnV2_IsNotGivenAndHasNoWarning(string model)
    {
        var result = Validate(Body(model, "\"cfg_scale\":null,\"camera_control\":null"));

        Assert.Empty(result.Errors);
    }

    [Theory]
    [MemberData(nameof(V1Models))]
    public void FieldsOnV1_HaveNoWarnings(string model)
    {
        var result = Validate(Body(model, "\"cfg_scale\":0.5,\"camera_control\":{\"type\":\"forward_up\"}"));

        Assert.Empty(result.Errors);
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void NullOnOptionalFields_MeansNotGiven(string model)
    {
        var tail = V1.Contains(model) ? ",\"tail_image_url\":null" : "";
        var json = Body(model, """
            "prompt":null,"negative_prompt":null,"duration":null,"cfg_scale":null,"static_mask":null,"dynamic_masks":null,"camera_control":null
            """ + tail);

        Assert.Empty(Validate(json).Errors);
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void MissingOrNullImageUrl_IsRequired(string model)
    {
        Validate($$$"""{"model":"{{{model}}}"}""").AssertError("image_url", "is required", "absolute http(s) URL", "base64 JPEG/PNG");
        Validate($$$"""{"model":"{{{model}}}","image_url":null}""").AssertError("image_url", "is required");
    }

    [Fact]
    public void MissingModel_IsRequiredListingTheSupportedIds()
    {
        var result = Validate($$$"""{"image_url":"{{{Url}}}"}""");

        result.AssertError("model", "is required", V1Standard, V1Pro, V2Master, V21Standard, V21Pro);
    }

    [Theory]
    [InlineData("null", "is required")]
    [InlineData("5", "must be a string naming one of")]
    [InlineData("\"KLINGAI/V2-MASTER-IMAGE-TO-VIDEO\"", "must be one of the supported models")]
    public void BadModelValues_AreReported(string value, string fragment)
    {
        var result = Validate($$$"""{"model":{{{value}}},"image_url":"{{{Url}}}"}""");

        result.AssertError("model", fragment, V2Master);
    }

    [Fact]
    public void LongBadValue_IsQuotedToFortyCharacters()
    {
        var model = new string('m', 500);

        var failure = Validate($$$"""{"model":"{{{model}}}","image_url":"{{{Url}}}"}""").AssertError("model");

        Assert.Contains("\"" + new string('m', 40) + "…\"", failure.ErrorMessage);
        Assert.DoesNotContain(new string('m', 41), failure.ErrorMessage);
    }

    [Fact]
    public void UnknownModel_StillValidatesEveryOtherFieldAgainstAllModels()
    {
        var result = Validate($$$"""
            {"model":"kling-video/v3","image_url":"ftp://x/y","cfg_scale":3,"duration":8,"cfg_sacle":1,
             "tail_image_url":"{{{Url}}}","provider":"nope","camera_control":{"type":"simple","config":{"zoom":1} }}
            """);

        result.AssertError("model", "supported models");
        result.AssertError("image_url", "absolute http(s) URL");
        result.AssertError("cfg_scale", "between 0 and 1");
        result.AssertError("duration", "5 or 10");
        result.AssertError("cfg_sacle", "is not a known field", "did you mean cfg_scale?", "The supported models take");
        result.AssertError("provider", "auto, kling, klingai, fal");
        Assert.Equal(6, result.Errors().Count);
        Assert.Empty(result.Warnings());
    }

    [Fact]
    public void OneRequestWithManyFaults_ReportsEveryOne()
    {
        var gif = TestImages.Base64(TestImages.Gif());
        var result = Validate($$$"""
            {"model":"{{{V1Standard}}}","image_url":"{{{gif}}}","cfg":1,"cfg_scale":-1,"duration":"10",
             "tail_image_url":"{{{Url}}}","static_mask":"{{{Url}}}","prompt":"{{{LongText}}}",
             "dynamic_masks":[{"mask":"{{{Url}}}","trajectories":[{"x":1,"y":1}]},{"mask":"{{{Url}}}","trajectories":[{"x":1,"y":1},{"x":2,"y":0.5}]}],
             "camera_control":{"type":"simple","config":{"zoom":20,"tilt":1}},"type":"image-to-video"}
            """);

        string[] keys =
        [
            "image_url", "cfg", "cfg_scale", "prompt", "type", "dynamic_masks[0].trajectories", "dynamic_masks[1].trajectories[1].y",
            "camera_control.config.zoom", "static_mask", "dynamic_masks", "camera_control", "duration",
        ];
        Assert.Equal(keys.Order(), result.Errors().Select(f => f.PropertyName).Distinct().Order());
        result.AssertError("image_url", "the data is GIF");
        result.AssertError("duration", "must be 5 when tail_image_url and static_mask and dynamic_masks are given");
    }

    [Theory]
    [InlineData(CreateRoute.Gateway)]
    [InlineData(CreateRoute.Universal)]
    public void LegacyFieldsOnOtherRoutes_AreUnknown(CreateRoute route)
    {
        var result = Validate(Body(V1Pro, "\"type\":\"image-to-video\",\"external_task_id\":\"t-1\""), route);

        result.AssertError("type", "is taken only on the legacy route");
        result.AssertError("external_task_id", "is taken only on the legacy route");
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void LegacyFieldsOnLegacyRoute_AreChecked(string model)
    {
        Validate(Body(model, $$$"""
            "type":"image-to-video","external_task_id":"{{{new string('t', 256)}}}"
            """), CreateRoute.Legacy).AssertNoErrors();

        var result = Validate(Body(model, $$$"""
            "type":"text-to-video","external_task_id":"{{{new string('t', 257)}}}"
            """), CreateRoute.Legacy);
        result.AssertError("type", "must be one of image-to-video", "got \"text-to-video\"");
        result.AssertError("external_task_id", "at most 256 characters");
    }

    [Fact]
    public void LegacyRouteFieldList_IncludesTypeAndExternalTaskId()
    {
        var failure = Validate(Body(V21Pro, "\"foo\":1"), CreateRoute.Legacy).AssertError("foo");

        Assert.Contains("type, external_task_id", failure.ErrorMessage);
        var gateway = Validate(Body(V21Pro, "\"foo\":1")).AssertError("foo");
        Assert.DoesNotContain("external_task_id", gateway.ErrorMessage);
    }

    [Theory]
    [InlineData("5", 5)]
    [InlineData("5.0", 5)]
    [InlineData("10", 10)]
    [InlineData("1e1", 10)]
    [InlineData("\"5\"", 5)]
    [InlineData("\"10\"", 10)]
    public void DurationForms_AreAccepted(string value, int expected)
    {
        using var request = Parse(Body(V21Standard, $"\"duration\":{value}"));

        Assert.Equal(expected, request.Duration);
        Validate(Body(V21Standard, $"\"duration\":{value}")).AssertNoErrors();
    }

    [Fact]
    public void PromptLength_CountsUserPerceivedCharacters()
    {
        // 2500 family emoji are 2500 characters to a reader but 27,500 UTF-16 code units.
        var emoji = string.Concat(Enumerable.Repeat("👨‍👩‍👧‍👦", 2500));

        Validate(Body(V1Pro, $"\"prompt\":\"{emoji}\"")).AssertNoErrors();
        Validate(Body(V1Pro, $"\"prompt\":\"{emoji}é\"")).AssertError("prompt", "at most 2500 characters; it has 2501");
        Validate(Body(V1Pro, $"\"prompt\":\"{new string('a', 2500)}\"")).AssertNoErrors();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(0.0001)]
    public void CfgScaleBounds_AreInclusive(double value)
    {
        Validate(Body(V1Standard, FormattableString.Invariant($"\"cfg_scale\":{value}"))).AssertNoErrors();
    }

    [Theory]
    [InlineData(-10)]
    [InlineData(10)]
    public void CameraConfigBounds_AreInclusive(double value)
    {
        Validate(Body(V1Pro, FormattableString.Invariant($$$"""
            "camera_control":{"type":"simple","config":{"vertical":{{{value}}}}}
            """))).AssertNoErrors();
    }
}

public sealed class HostileInputTests
{
    [Theory]
    [InlineData("""{"model":"kling-video/v1/pro/image-to-video","image_url":"https://a.b/c","cfg_scale":1e400}""", "cfg_scale")]
    [InlineData("""{"model":"kling-video/v1/pro/image-to-video","image_url":"https://a.b/c","duration":-1e400}""", "duration")]
    [InlineData("""{"model":"kling-video/v1/pro/image-to-video","image_url":"https://a.b/c","camera_control":{"type":"simple","config":{"zoom":1e999}}}""", "camera_control.config.zoom")]
    [InlineData("""{"model":"kling-video/v1/pro/image-to-video","image_url":"https://a.b/c","dynamic_masks":[{"mask":"https://a.b/m","trajectories":[{"x":1e30,"y":1},{"x":1,"y":1}]}]}""", "dynamic_masks[0].trajectories[0].x")]
    [InlineData("""{"model":"kling-video/v1/pro/image-to-video","image_url":"https://a.b/c","\u00e9t\u00e9":{"a":[[[]]]}}""", "été")]
    public void ExtremeValues_AreFaultsNotExceptions(string json, string key)
    {
        var result = Validate(json);

        Assert.Contains(result.Errors(), f => f.PropertyName == key);
    }

    [Fact]
    public void ThousandsOfFaults_AreCappedAtOneHundredPlusANote()
    {
        var fields = string.Join(",", Enumerable.Range(0, 3000).Select(i => $"\"f{i}\":1"));

        var result = Validate(Body(V1Standard, fields));

        Assert.Equal(101, result.Errors().Count);
        Assert.Equal("$ has more than 100 faults; only the first 100 are listed, and the rest of the body was not checked.",
            result.Errors()[^1].ErrorMessage);
    }

    [Theory]
    [InlineData("""{"image_url":"\ud800"}""", "image_url", 15)]
    [InlineData("""{"prompt":"ok \\ud800 \udc00"}""", "prompt", 23)]
    [InlineData("""{"\ud83dx":1}""", "$", 3)]
    [InlineData("""{"dynamic_masks":[{"mask":"a"},{"trajectories":[{"x":"\udfff"}]}]}""", "dynamic_masks[1].trajectories[0].x", 55)]
    public void UnpairedSurrogateEscapes_AreRefusedWithTheirPathAndPlace(string json, string path, int bytePosition)
    {
        using var request = Parse(json);

        Assert.Equal(RequestRejection.InvalidText, request.Rejection);
        var fault = Assert.Single(Assert.Contains(path, request.RejectionErrors!));
        Assert.StartsWith(path + " ", fault);
        Assert.Contains($"at byte {bytePosition} ", fault);
    }

    [Fact]
    public void PairedSurrogateEscapesAndNul_AreFine()
    {
        Validate(Body(V1Pro, """
            "prompt":"\ud83d\ude00 \u0000 \\ud800"
            """)).AssertNoErrors();
    }

    [Fact]
    public void DeeplyNestedBody_IsMalformedNotAnException()
    {
        using var request = Parse("{\"a\":" + new string('[', 100) + new string(']', 100) + "}");

        Assert.Equal(RequestRejection.MalformedJson, request.Rejection);
    }
}
