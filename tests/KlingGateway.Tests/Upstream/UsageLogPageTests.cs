using System.Text;
using KlingGateway.Generations;
using KlingGateway.Upstream;

namespace KlingGateway.Tests.Upstream;

/// <summary>Reading the upstream's usage log, and what its rows decide about a create of unknown outcome.</summary>
public sealed class UsageLogPageTests
{
    [Fact]
    public void APage_IsReadLeniently_RowByRow()
    {
        var page = UsageLogPage.Read(Encoding.UTF8.GetBytes("""
            {"data":[
              {"created":"2026-11-29T10:00:00.000Z","status":"succeeded","cost":{"usd":0.5,"credits":1000000},"inference_id":"inf-1","client_request_id":"gen.a"},
              {"status":"failed","cost":{"usd":0,"credits":0},"client_request_id":null},
              {"status":42,"cost":"free"},
              "not a row"
            ],"pagination":{"limit":100,"offset":0,"total":3,"has_more":true}}
            """));

        Assert.NotNull(page);
        Assert.True(page.HasMore);
        Assert.Equal(3, page.Rows.Count);
        Assert.Equal(new UsageLogRow("succeeded", 0.5m, 1_000_000, "inf-1", "gen.a"), page.Rows[0]);
        Assert.True(page.Rows[0].Billed);
        Assert.True(page.Rows[1].Failed);
        Assert.Null(page.Rows[1].ClientRequestId);
        Assert.False(page.Rows[2].Billed || page.Rows[2].Failed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("""{"data":[]}""")]
    [InlineData("""{"data":{},"pagination":{"has_more":false}}""")]
    [InlineData("""{"data":[],"pagination":{"has_more":"no"}}""")]
    [InlineData("""{"data":[""")]
    public void NotAPage_IsNull(string body)
    {
        Assert.Null(UsageLogPage.Read(Encoding.UTF8.GetBytes(body)));
    }

    [Theory]
    // A row for the create decides at once: billed if it succeeded or cost anything, not billed if it failed at no cost.
    [InlineData("succeeded", 1.5, false, false, "billed")]
    [InlineData("failed", 0.0, false, false, "not_billed")]
    [InlineData("failed", 0.2, true, true, "billed")]
    // A row with a word the log does not document, at no cost, decides nothing.
    [InlineData("pending", 0.0, true, true, null)]
    // No row: not billed only once the window was read to its end and the grace period is over.
    [InlineData(null, 0.0, true, true, "not_billed")]
    [InlineData(null, 0.0, true, false, null)]
    [InlineData(null, 0.0, false, true, null)]
    public void TheLogsRows_DecideTheBilling(string? status, double usd, bool windowComplete, bool graceOver, string? expected)
    {
        IReadOnlyList<UsageLogRow>? rows = status is null ? null : [new UsageLogRow(status, (decimal)usd, 0, null, "gen.a")];

        var decided = CreateSettlementWorker.Decide(rows, windowComplete, graceOver);

        Assert.Equal(expected, decided?.ToApiString());
    }
}
