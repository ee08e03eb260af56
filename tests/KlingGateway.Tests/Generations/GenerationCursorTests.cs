using System.Buffers.Text;
using System.Text;
using KlingGateway.Generations;

namespace KlingGateway.Tests.Generations;

public sealed class GenerationCursorTests
{
    [Fact]
    public void CursorText_ParsesBackToTheSamePosition()
    {
        // A tick-precise time with an offset: the cursor keeps the instant to the tick.
        var createdAt = new DateTimeOffset(2026, 11, 22, 10, 15, 30, TimeSpan.FromHours(2)).AddTicks(1_234_567);
        var cursor = new GenerationCursor(createdAt, GenerationId.New());

        Assert.True(GenerationCursor.TryParse(cursor.ToString(), out var parsed));
        Assert.Equal(cursor.Id, parsed.Id);
        Assert.Equal(createdAt.UtcTicks, parsed.CreatedAt.UtcTicks);
        Assert.Equal(cursor, parsed);
    }

    [Fact]
    public void CursorText_IsUrlSafe()
    {
        var text = new GenerationCursor(DateTimeOffset.UtcNow, GenerationId.New()).ToString();

        Assert.Matches("^[A-Za-z0-9_-]+$", text);
        Assert.Equal(text, Uri.EscapeDataString(text));
    }

    public static TheoryData<string?> InvalidCursors => new()
    {
        null,
        "",
        "not a cursor",
        "!!!!",
        "gen_AbCdEfGhIjKlMnOp-_0123",
        Encode("1.638000000000000000"),
        Encode("1.638000000000000000.gen_AbCdEfGhIjKlMnOp-_0123.extra"),
        Encode("2.638000000000000000.gen_AbCdEfGhIjKlMnOp-_0123"),
        Encode("1.-5.gen_AbCdEfGhIjKlMnOp-_0123"),
        Encode("1.abc.gen_AbCdEfGhIjKlMnOp-_0123"),
        Encode("1.99999999999999999999.gen_AbCdEfGhIjKlMnOp-_0123"),
        Encode("1.638000000000000000.not-an-id"),
        Encode("1.638000000000000000.' OR 1=1 --"),
        Base64Url.EncodeToString([0xFF, 0xFE, 0xFD, 0x2E]),
        new string('A', 4096),
    };

    [Theory]
    [MemberData(nameof(InvalidCursors))]
    public void InvalidCursorText_FailsTryParse(string? value)
    {
        Assert.False(GenerationCursor.TryParse(value, out var cursor));
        Assert.Equal(default, cursor);
    }

    [Fact]
    public void TruncatedCursorText_FailsTryParse()
    {
        var text = new GenerationCursor(DateTimeOffset.UtcNow, GenerationId.New()).ToString();
        // The id is last, so any truncation leaves it too short or the base64 undecodable.
        Assert.False(GenerationCursor.TryParse(text[..^3], out _));
    }

    private static string Encode(string text) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text));
}
