using System.Text.Json;
using KlingGateway.Generations;

namespace KlingGateway.Tests.Generations;

public sealed class StatusMapperTests
{
    public static TheoryData<string?, GenerationStatus, bool> UpstreamWords => new()
    {
        // Every spec's enum (docs/upstream.md, "Statuses").
        { "queued", GenerationStatus.Queued, true },
        { "generating", GenerationStatus.Processing, true },
        { "completed", GenerationStatus.Succeeded, true },
        { "error", GenerationStatus.Failed, true },
        // Older client polling loops.
        { "waiting", GenerationStatus.Queued, true },
        { "active", GenerationStatus.Processing, true },
        // Seen only elsewhere, accepted defensively.
        { "complete", GenerationStatus.Succeeded, true },
        { "failed", GenerationStatus.Failed, true },
        // Case and whitespace.
        { "QUEUED", GenerationStatus.Queued, true },
        { "Waiting", GenerationStatus.Queued, true },
        { " generating ", GenerationStatus.Processing, true },
        { "\tActive\n", GenerationStatus.Processing, true },
        { "Completed", GenerationStatus.Succeeded, true },
        { "COMPLETE ", GenerationStatus.Succeeded, true },
        { " Error", GenerationStatus.Failed, true },
        { "FAILED", GenerationStatus.Failed, true },
        // The explicit unknown case: a failure the caller logs.
        { null, GenerationStatus.Failed, false },
        { "", GenerationStatus.Failed, false },
        { "   ", GenerationStatus.Failed, false },
        { "succeed", GenerationStatus.Failed, false },
        { "succeeded", GenerationStatus.Failed, false },
        { "processing", GenerationStatus.Failed, false },
        { "submitted", GenerationStatus.Failed, false },
        { "cancelled", GenerationStatus.Failed, false },
        { "queued!", GenerationStatus.Failed, false },
        { "in progress", GenerationStatus.Failed, false },
        { "0", GenerationStatus.Failed, false },
    };

    [Theory]
    [MemberData(nameof(UpstreamWords))]
    public void UpstreamWord_MapsToNormalizedStatus(string? upstream, GenerationStatus expected, bool known)
    {
        Assert.Equal(expected, StatusMapper.Map(upstream));
        Assert.Equal(known, StatusMapper.IsKnown(upstream));
    }

    [Theory]
    [InlineData(GenerationStatus.Queued, false)]
    [InlineData(GenerationStatus.Processing, false)]
    [InlineData(GenerationStatus.Succeeded, true)]
    [InlineData(GenerationStatus.Failed, true)]
    public void Status_IsTerminalOnlyWhenFinal(GenerationStatus status, bool terminal)
    {
        Assert.Equal(terminal, status.IsTerminal());
    }

    [Theory]
    [InlineData(GenerationStatus.Queued, "queued")]
    [InlineData(GenerationStatus.Processing, "generating")]
    [InlineData(GenerationStatus.Succeeded, "completed")]
    [InlineData(GenerationStatus.Failed, "error")]
    public void Status_ToUpstreamWord_IsTheSpecEnumWordThatMapsBack(GenerationStatus status, string word)
    {
        Assert.Equal(word, status.ToUpstreamWord());
        Assert.Equal(status, StatusMapper.Map(word));
        Assert.True(StatusMapper.IsKnown(word));
    }

    [Theory]
    [InlineData(GenerationStatus.Queued, "queued")]
    [InlineData(GenerationStatus.Processing, "processing")]
    [InlineData(GenerationStatus.Succeeded, "succeeded")]
    [InlineData(GenerationStatus.Failed, "failed")]
    public void Status_ApiString_RoundTripsAndMatchesJson(GenerationStatus status, string apiString)
    {
        Assert.Equal(apiString, status.ToApiString());
        Assert.True(StatusMapper.TryParseApiString(apiString, out var parsed));
        Assert.Equal(status, parsed);
        Assert.Equal($"\"{apiString}\"", JsonSerializer.Serialize(status));
        Assert.Equal(status, JsonSerializer.Deserialize<GenerationStatus>($"\"{apiString}\""));
    }

    [Theory]
    [InlineData("Succeeded", GenerationStatus.Succeeded)]
    [InlineData("QUEUED", GenerationStatus.Queued)]
    public void ApiStringInOtherCase_Parses(string value, GenerationStatus expected)
    {
        Assert.True(StatusMapper.TryParseApiString(value, out var parsed));
        Assert.Equal(expected, parsed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" queued")]
    [InlineData("completed")]
    [InlineData("generating")]
    [InlineData("error")]
    [InlineData("0")]
    [InlineData("2")]
    [InlineData("Queued,Failed")]
    public void NotAnApiString_DoesNotParse(string? value)
    {
        Assert.False(StatusMapper.TryParseApiString(value, out _));
    }

    [Fact]
    public void UndefinedEnumValue_Throws()
    {
        var undefined = (GenerationStatus)42;
        Assert.Throws<ArgumentOutOfRangeException>(() => undefined.IsTerminal());
        Assert.Throws<ArgumentOutOfRangeException>(() => undefined.ToApiString());
        Assert.Throws<ArgumentOutOfRangeException>(() => undefined.ToUpstreamWord());
    }

    [Fact]
    public void ErrorCodes_AreTheFixedDistinctSet()
    {
        Assert.Equal(
            ["generation_failed", "unknown_status", "upstream_rejected", "upstream_unavailable", "upstream_timeout", "upstream_bad_response",
                "interrupted", "deadline_exceeded"],
            GenerationErrorCodes.All);
    }
}
