using System.Buffers.Text;
using KlingGateway.Generations;

namespace KlingGateway.Tests.Generations;

public sealed class GenerationIdTests
{
    [Fact]
    public void New_IsPrefixedBase64UrlOfSixteenBytes()
    {
        var id = GenerationId.New();

        Assert.StartsWith("gen_", id, StringComparison.Ordinal);
        Assert.Equal(26, id.Length);
        Assert.Matches("^gen_[A-Za-z0-9_-]{22}$", id);
        Assert.Equal(16, Base64Url.DecodeFromChars(id.AsSpan(4)).Length);
        Assert.True(GenerationId.IsWellFormed(id));
    }

    [Fact]
    public void TenThousandNewIds_AreAllDistinct()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => GenerationId.New()).ToHashSet(StringComparer.Ordinal);

        Assert.Equal(10_000, ids.Count);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("gen_")]
    [InlineData("gen_AAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("gen_AAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("GEN_AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("xyz_AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("gen_AAAAAAAAAAAAAAAAAAAA+/")]
    [InlineData("gen_AAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("gen_AAAAAAAAAAAAAAAAAAA AA")]
    [InlineData("gen_AAAAAAAAAAAAAAAAAAAAAé")]
    [InlineData("gg6lldgKC2tRmvJwBjK7-")]
    [InlineData("789339022468063304")]
    [InlineData("uuid:kling-video/v2/master/image-to-video")]
    public void JunkId_IsNotWellFormed(string? id)
    {
        Assert.False(GenerationId.IsWellFormed(id));
    }

    [Fact]
    public void HandWrittenIdOfTheRightShape_IsWellFormed()
    {
        Assert.True(GenerationId.IsWellFormed("gen_AbCdEfGhIjKlMnOp-_0123"));
    }
}
