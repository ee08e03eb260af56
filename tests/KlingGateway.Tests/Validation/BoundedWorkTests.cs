using System.Text;
using KlingGateway.Creates;
using KlingGateway.Models;
using static KlingGateway.Tests.Validation.Requests;

namespace KlingGateway.Tests.Validation;

/// <summary>
/// What a body can cost is bounded by the model's rules, not by its size: a collection is walked only as far as the
/// rules allow, with one fault saying how many were sent. Asserted on what the validator allocates and reads, never on
/// time.
/// </summary>
public sealed class BoundedWorkTests
{
    private static readonly GenerationRequestValidator Validator = new();

    /// <summary>
    /// What validating an already parsed body may allocate, whatever the body holds: enough for the 100 faults an answer
    /// lists (a few KB each with their messages), nothing that grows with the body.
    /// </summary>
    private const long ValidationBudgetBytes = 512 * 1024;

    public static TheoryData<string, string, string, string> HugeCollections => new()
    {
        // 40,000 masks took seconds to refuse when every mask was looked up by a scan of all the others.
        { "40,000 masks", Body(V1Pro, $"\"dynamic_masks\":[{Repeat(Mask(Points(2)), 40_000)}]"), "dynamic_masks", "has 40000 items" },
        { "100,000 trajectory points", Body(V1Pro, $"\"dynamic_masks\":[{Mask(Points(100_000))}]"), "dynamic_masks[0].trajectories", "has 100000 items" },
        { "100,000 unknown fields", Body(V1Pro, string.Join(",", Enumerable.Range(0, 100_000).Select(i => $"\"f{i}\":{i}"))), "$", "has 100002 members" },
        { "100,000 duplicated prompts", Body(V1Pro, Repeat("\"prompt\":\"a\"", 100_000)), "$", "has 100002 members" },
        { "100,000 camera keys", Body(V1Pro, $"\"camera_control\":{{\"type\":\"simple\",\"config\":{{{Repeat("\"zoom\":1", 100_000)}}}}}"), "camera_control.config", "has 100000 members" },
        { "100,000 point members", Body(V1Pro, $"\"dynamic_masks\":[{Mask($"[{{{string.Join(",", Enumerable.Range(0, 100_000).Select(i => $"\"p{i}\":1"))}}},{{\"x\":1,\"y\":1}}]")}]"), "dynamic_masks[0].trajectories[0]", "has 100000 members" },
        { "a million numbers", Body(V1Pro, $"\"prompt\":[{Repeat("0", 1_000_000)}]"), "prompt", "has 1000000 items" },
        // Cut off: counted as far as it reads, the number at the cut not included.
        { "a truncated million numbers", Body(V1Pro, $"\"prompt\":[{Repeat("0", 1_000_000)}")[..^1], "prompt", "has 999999 items" },
    };

    [Theory]
    [MemberData(nameof(HugeCollections))]
    public void HugeCollection_IsRefusedBeforeTheParserIndexesIt(string what, string json, string faultKey, string count)
    {
        var body = Encoding.UTF8.GetBytes(json);

        var before = GC.GetAllocatedBytesForCurrentThread();
        using var request = GenerationRequest.Parse(body, CreateRoute.Gateway);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(RequestRejection.TooManyValues, request.Rejection);
        var fault = Assert.Single(Assert.Contains(faultKey, request.RejectionErrors!));
        Assert.StartsWith($"{faultKey} {count}", fault, StringComparison.Ordinal);
        // No index of the body was built: a JsonDocument takes 12 bytes a token, megabytes here.
        Assert.True(allocated < 64 * 1024, $"{what}: refusing {body.Length:N0} bytes allocated {allocated:N0}");
    }

    public static TheoryData<string, string, string> CollectionsPastTheRules => new()
    {
        { "500 masks", Body(V1Pro, $"\"dynamic_masks\":[{Repeat(Mask(Points(2)), 500)}]"), "dynamic_masks" },
        { "1,500 trajectory points", Body(V1Pro, $"\"dynamic_masks\":[{Mask(Points(1_500))}]"), "dynamic_masks[0].trajectories" },
        { "4,000 unknown fields", Body(V1Pro, string.Join(",", Enumerable.Range(0, 4_000).Select(i => $"\"f{i}\":{i}"))), "$" },
        { "4,000 duplicated prompts", Body(V1Pro, Repeat("\"prompt\":\"a\"", 4_000)), "$" },
        { "4,000 camera keys", Body(V1Pro, $"\"camera_control\":{{\"type\":\"simple\",\"config\":{{{Repeat("\"zoom\":1", 4_000)}}}}}"), "$" },
        { "4,000 point members", Body(V1Pro, $"\"dynamic_masks\":[{Mask($"[{{{string.Join(",", Enumerable.Range(0, 4_000).Select(i => $"\"p{i}\":1"))}}},{{\"x\":1,\"y\":1}}]")}]"), "$" },
        { "4,000 mask members", Body(V1Pro, $"\"dynamic_masks\":[{{{string.Join(",", Enumerable.Range(0, 4_000).Select(i => $"\"m{i}\":1"))}}}]"), "$" },
    };

    [Theory]
    [MemberData(nameof(CollectionsPastTheRules))]
    public void CollectionPastTheRules_IsRefusedWithoutWalkingItsSurplus(string what, string json, string faultKey)
    {
        using var request = Parse(json);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = Validator.Validate(request);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains(result.Errors(), f => f.PropertyName == faultKey);
        Assert.True(allocated < ValidationBudgetBytes, $"{what}: validation allocated {allocated:N0} bytes for a {json.Length:N0}-byte body");
        Assert.True(result.Errors().Count <= 101, $"{what}: {result.Errors().Count} faults listed");
    }

    [Fact]
    public void ManyMasks_AreOneFaultSayingHowManyWereSent()
    {
        var result = Validate(Body(V1Pro, $"\"dynamic_masks\":[{Repeat(Mask(Points(2)), 500)}]"));

        var fault = Assert.Single(result.Errors());
        result.AssertError("dynamic_masks", "must have at most 6 items; it has 500.");
        Assert.Equal("dynamic_masks", fault.PropertyName);
    }

    [Fact]
    public void ManyPoints_AreOneFaultSayingHowManyWereSent()
    {
        var result = Validate(Body(V1Pro, $"\"dynamic_masks\":[{Mask(Points(1_500))}]"));

        Assert.Single(result.Errors());
        result.AssertError("dynamic_masks[0].trajectories", "2 to 77", "it has 1500.");
    }

    [Fact]
    public void ManyMasks_InspectOnlyAsManyImagesAsAModelTakes()
    {
        using var request = Parse(Body(V1Pro, $"\"dynamic_masks\":[{Repeat(Mask(Points(2)), 500)}]"));

        // image_url and the first six masks: the audit event and the summary list no more.
        Assert.Equal(7, request.Images.Count);
        Assert.Equal(7, CreateAudit.ImageHashes(request).Split(',').Length);
    }

    [Fact]
    public void TheLargestValidBody_IsWellInsideTheTokenBound()
    {
        var masks = Repeat(Mask(Points(77)), 6);
        var json = Body(V1Pro, $"\"prompt\":\"p\",\"negative_prompt\":\"n\",\"duration\":5,\"cfg_scale\":0.5,\"static_mask\":\"{Url}\",\"dynamic_masks\":[{masks}]");

        Validate(json).AssertNoErrors();
        Assert.Null(JsonText.Oversized(Encoding.UTF8.GetBytes(json), JsonText.MaxTokens / 3));
    }

    [Fact]
    public void ALongNameOrValue_IsCutInTheAnswer()
    {
        var name = new string('n', 1_000_000);
        var value = new string('v', 1_000_000);

        var result = Validate(Body(V1Pro, $"\"{name}\":1,\"provider\":\"{value}\",\"camera_control\":{{\"{name}\":1}}"));

        Assert.All(result.Errors(), f => Assert.True(f.ErrorMessage.Length < 2_000, $"{f.PropertyName.Length}: {f.ErrorMessage.Length}"));
        Assert.Contains(result.Errors(), f => f.PropertyName == new string('n', 64) + "…");
        Assert.Contains(result.Errors(), f => f.PropertyName == "camera_control." + new string('n', 64) + "…");
    }

    [Fact]
    public void AValidBodyWithANumberOfAMillionDigits_HasASmallSummary()
    {
        using var request = Parse(Body(V1Pro, $"\"cfg_scale\":0.5{new string('0', 1_000_000)}"));
        Assert.Empty(Validator.Validate(request).Errors());

        var summary = request.Summary();

        Assert.True(summary.Length < 1_000, $"the summary is {summary.Length:N0} characters");
        Assert.Contains("\"cfg_scale\":0.5", summary, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseAndValidate_AllocateInProportionToTheBody()
    {
        // Linear overall: ten times the items costs at most about ten times the bytes (the parser's own index), never
        // the square.
        long Cost(int items)
        {
            var json = Encoding.UTF8.GetBytes(Body(V1Pro, $"\"dynamic_masks\":[{Repeat(Mask(Points(2)), items)}]"));
            var before = GC.GetAllocatedBytesForCurrentThread();
            using (var request = GenerationRequest.Parse(json, CreateRoute.Gateway))
            {
                Validator.Validate(request);
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Cost(500);
        var small = Cost(50);
        var large = Cost(500);

        Assert.True(large < small * 20, $"50 items allocated {small:N0} bytes, 500 allocated {large:N0}");
    }

    [Theory]
    [InlineData("prompt", "\"prompt\":\"caf\u00ff\"")]
    [InlineData("image_url", "\"image_url\":\"https://example.com/a\u00ff.png\"")]
    [InlineData("dynamic_masks[0].mask", "\"dynamic_masks\":[{\"mask\":\"https://example.com/\u00fe\",\"trajectories\":[{\"x\":1,\"y\":1},{\"x\":2,\"y\":2}]}]")]
    [InlineData("$", "\"caf\u00ff\":1")]
    public void InvalidUtf8InAString_IsRefusedNamingItsPath(string path, string fields)
    {
        // U+00FF stands for one raw 0xFF byte: never valid in UTF-8.
        var json = Encoding.Latin1.GetBytes(fields.StartsWith("\"image_url\"", StringComparison.Ordinal)
            ? $$"""{"model":"{{V1Pro}}",{{fields}}}"""
            : Body(V1Pro, fields));

        using var request = GenerationRequest.Parse(json, CreateRoute.Gateway);

        Assert.Equal(RequestRejection.InvalidText, request.Rejection);
        var fault = Assert.Single(Assert.Contains(path, request.RejectionErrors!));
        Assert.StartsWith(path + " ", fault, StringComparison.Ordinal);
        Assert.Contains("UTF-8", fault, StringComparison.Ordinal);
    }

    [Fact]
    public void ManyInvalidStrings_AreListedUpToOneHundred()
    {
        var json = Encoding.Latin1.GetBytes(Body(V1Pro, string.Join(",", Enumerable.Range(0, 3_000).Select(i => $"\"f{i}\":\"\u00ff\""))));

        using var request = GenerationRequest.Parse(json, CreateRoute.Gateway);

        Assert.Equal(RequestRejection.InvalidText, request.Rejection);
        Assert.Equal(100, request.RejectionErrors!.Count);
    }

    private static string Repeat(string item, int count) => string.Join(",", Enumerable.Repeat(item, count));
}
