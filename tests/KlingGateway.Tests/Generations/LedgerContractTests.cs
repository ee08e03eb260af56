using System.Data.Common;
using KlingGateway.Generations;
using KlingGateway.Ledger;
using static KlingGateway.Tests.Generations.SampleGenerations;

namespace KlingGateway.Tests.Generations;

/// <summary>
/// The ledger's contract (generations, ownership, admission limits, usage, idempotency keys), run against a real
/// SQLite file and a real PostgreSQL server. Each case is a row, so a provider's run lists every case.
/// </summary>
public static class LedgerContract
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly DateTimeOffset Day = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    private static readonly Dictionary<string, Func<Func<Task<SqlLedgerStore>>, Task>> Cases = new()
    {
        ["InsertThenFind_RoundTripsEveryFieldWithOwnerAndCost"] = async open =>
        {
            var store = await open();
            var generation = Full() with { OwnerClient = "alpha", OwnerUser = "ana", VideoSeconds = 10, CostUsd = 1.234567m, Refunded = true };
            await store.InsertAsync(generation, None);
            AssertSame(generation, await store.FindAsync(generation.Id, None));
        },
        ["InsertSameIdTwice_Throws"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0);
            await store.InsertAsync(generation, None);
            await Assert.ThrowsAnyAsync<DbException>(() => store.InsertAsync(generation, None));
        },
        ["Update_ChangesTheOutcomeAndKeepsWhatTheCreateFixed"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0);
            await store.InsertAsync(generation, None);
            var update = Full() with { Id = generation.Id, CreatedAt = T0.AddHours(1), OwnerClient = "beta", CostUsd = 2m, Refunded = true };
            await store.UpdateAsync(update, None);
            AssertSame(Updated(generation, update), await store.FindAsync(generation.Id, None));
        },
        ["UpdateUnknownId_ThrowsKeyNotFound"] = async open =>
        {
            var store = await open();
            await Assert.ThrowsAsync<KeyNotFoundException>(() => store.UpdateAsync(Minimal(T0), None));
        },
        ["ListPagesNewestFirstWithoutGapsOrDuplicates"] = async open =>
        {
            var store = await open();
            var all = Enumerable.Range(0, 7).Select(i => Minimal(T0.AddTicks(i % 3))).ToList();
            foreach (var g in all)
            {
                await store.InsertAsync(g, None);
            }

            var seen = new List<string>();
            GenerationCursor? after = null;
            do
            {
                var page = await store.ListAsync(new GenerationQuery(null, null, 3, after), None);
                seen.AddRange(page.Items.Select(g => g.Id));
                after = page.Next;
            }
            while (after is not null);

            Assert.Equal(all.OrderByDescending(g => g.CreatedAt).ThenByDescending(g => g.Id, StringComparer.Ordinal).Select(g => g.Id), seen);
        },
        ["ListWithOwner_ReturnsOnlyThatClientAndUser"] = async open =>
        {
            var store = await open();
            var mine = Minimal(T0) with { OwnerClient = "alpha" };
            var myUsers = Minimal(T0.AddSeconds(1)) with { OwnerClient = "alpha", OwnerUser = "ana" };
            var theirs = Minimal(T0.AddSeconds(2)) with { OwnerClient = "beta" };
            foreach (var g in new[] { mine, myUsers, theirs })
            {
                await store.InsertAsync(g, None);
            }

            Assert.Equal([mine.Id], Ids(await store.ListAsync(new GenerationQuery(null, null, 10, null) { Owner = new("alpha", null) }, None)));
            Assert.Equal([myUsers.Id], Ids(await store.ListAsync(new GenerationQuery(null, null, 10, null) { Owner = new("alpha", "ana") }, None)));
            Assert.Equal(3, (await store.ListAsync(new GenerationQuery(null, null, 10, null), None)).Items.Count);
        },
        ["Admit_RefusesOverMaxInFlightButNotFinishedOrStaleOnes"] = async open =>
        {
            var store = await open();
            var now = Day.AddHours(12);
            await store.InsertAsync(Minimal(now.AddMinutes(-1)) with { OwnerClient = "alpha" }, None);
            await store.InsertAsync(Minimal(now.AddMinutes(-1), status: GenerationStatus.Succeeded) with { OwnerClient = "alpha" }, None);
            await store.InsertAsync(Minimal(now.AddHours(-2)) with { OwnerClient = "alpha" }, None);
            await store.InsertAsync(Minimal(now.AddMinutes(-1)) with { OwnerClient = "beta" }, None);
            var limits = new AdmissionLimits(2, null, null, Day, now.AddMinutes(-30));

            var second = await store.AdmitAsync(Minimal(now) with { OwnerClient = "alpha" }, limits, null, None);
            var third = await store.AdmitAsync(Minimal(now) with { OwnerClient = "alpha" }, limits, null, None);

            Assert.True(second.Admitted);
            Assert.Equal(1, second.InFlight);
            Assert.Equal(AdmissionRefusal.InFlight, third.Refusal);
            Assert.Equal(2, third.InFlight);
        },
        ["Admit_CountsTodaysSecondsAndMoneyButNotRefundsOrYesterday"] = async open =>
        {
            var store = await open();
            var now = Day.AddHours(12);
            await store.InsertAsync(Minimal(now, status: GenerationStatus.Succeeded) with { OwnerClient = "alpha", VideoSeconds = 10, CostUsd = 1.5m }, None);
            await store.InsertAsync(Minimal(now, status: GenerationStatus.Failed) with { OwnerClient = "alpha", VideoSeconds = 10, CostUsd = 1.5m, Refunded = true }, None);
            await store.InsertAsync(Minimal(Day.AddHours(-1), status: GenerationStatus.Succeeded) with { OwnerClient = "alpha", VideoSeconds = 10, CostUsd = 1.5m }, None);
            var five = Minimal(now) with { OwnerClient = "alpha", VideoSeconds = 5, CostUsd = 0.75m };

            var overSeconds = await store.AdmitAsync(five, new AdmissionLimits(null, 14, null, Day, now), null, None);
            var overMoney = await store.AdmitAsync(five, new AdmissionLimits(null, null, 2.2m, Day, now), null, None);
            var exactly = await store.AdmitAsync(five, new AdmissionLimits(null, 15, 2.25m, Day, now), null, None);

            Assert.Equal(AdmissionRefusal.VideoSeconds, overSeconds.Refusal);
            Assert.Equal(10, overSeconds.SpentVideoSeconds);
            Assert.Equal(AdmissionRefusal.Budget, overMoney.Refusal);
            Assert.Equal(1.5m, overMoney.SpentUsd);
            Assert.True(exactly.Admitted);
            Assert.NotNull(await store.FindAsync(five.Id, None));
        },
        ["ConcurrentAdmissions_NeverOverspend"] = async open =>
        {
            var store = await open();
            var now = Day.AddHours(12);
            var limits = new AdmissionLimits(null, 25, null, Day, now);
            var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(async _ =>
            {
                var instance = await open();
                return await instance.AdmitAsync(Minimal(now) with { OwnerClient = "alpha", VideoSeconds = 5 }, limits, null, None);
            }));

            Assert.Equal(5, results.Count(r => r.Admitted));
            var usage = await store.UsageAsync("alpha", Day, Day, None);
            Assert.Equal(25, usage.Rows.Sum(r => r.VideoSeconds));
        },
        ["Usage_GroupsByDayAndModel"] = async open =>
        {
            var store = await open();
            await store.InsertAsync(Minimal(Day.AddHours(1)) with { OwnerClient = "alpha", VideoSeconds = 5, CostUsd = 0.5m }, None);
            await store.InsertAsync(Minimal(Day.AddHours(2)) with { OwnerClient = "alpha", VideoSeconds = 10, CostUsd = 1m }, None);
            await store.InsertAsync(Minimal(Day.AddHours(3), V21Pro) with { OwnerClient = "alpha", VideoSeconds = 5, CostUsd = 2m }, None);
            await store.InsertAsync(Minimal(Day.AddHours(-3)) with { OwnerClient = "alpha", VideoSeconds = 5 }, None);
            await store.InsertAsync(Minimal(Day.AddHours(1)) with { OwnerClient = "beta", VideoSeconds = 5 }, None);

            var usage = await store.UsageAsync("alpha", Day.AddDays(-1), Day, None);

            Assert.Equal(
                [new UsageRow("2026-11-22", V1Standard, 2, 15, 1.5m), new UsageRow("2026-11-22", V21Pro, 1, 5, 2m), new UsageRow("2026-11-21", V1Standard, 1, 5, 0m)],
                usage.Rows);
            Assert.Equal(3, usage.InFlight);
        },
        ["IdempotencyKey_FirstClaimHoldsSecondSeesItUntilExpiry"] = async open =>
        {
            var store = await open();
            var claim = new IdempotencyClaim("alpha", "key-1", "hash-a", T0, T0.AddHours(24));

            Assert.Null(await store.ClaimIdempotencyKeyAsync(claim, None));
            var held = await store.ClaimIdempotencyKeyAsync(claim with { RequestHash = "hash-b", CreatedAt = T0.AddHours(1) }, None);
            Assert.Equal("hash-a", held!.RequestHash);
            Assert.False(held.IsComplete);
            Assert.Null(await store.ClaimIdempotencyKeyAsync(claim with { Client = "beta" }, None));

            var generation = Minimal(T0) with { OwnerClient = "alpha" };
            await store.AdmitAsync(generation, new AdmissionLimits(null, null, null, Day, Day), "key-1", None);
            await store.CompleteIdempotencyKeyAsync("alpha", "key-1", 202, null, None);
            var complete = await store.FindIdempotencyKeyAsync("alpha", "key-1", T0.AddHours(2), None);
            Assert.Equal(generation.Id, complete!.GenerationId);
            Assert.Equal(202, complete.StatusCode);

            Assert.Null(await store.FindIdempotencyKeyAsync("alpha", "key-1", T0.AddHours(24), None));
            Assert.Null(await store.ClaimIdempotencyKeyAsync(claim with { RequestHash = "hash-c", CreatedAt = T0.AddHours(25), ExpiresAt = T0.AddHours(49) }, None));
        },
        ["IdempotencyKey_SimultaneousClaims_OneHolder"] = async open =>
        {
            await open();
            var claim = new IdempotencyClaim("alpha", "same", "hash", T0, T0.AddHours(24));
            var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ => await (await open()).ClaimIdempotencyKeyAsync(claim, None)));
            Assert.Single(results, r => r is null);
        },
        ["IdempotencyKey_ReleaseDropsAnOpenKeyEvenWithItsGeneration_NeverACompletedOne_AndExpiredAreDeleted"] = async open =>
        {
            var store = await open();
            var claim = new IdempotencyClaim("alpha", "k", "h", T0, T0.AddHours(24));
            await store.ClaimIdempotencyKeyAsync(claim, None);
            await store.ReleaseIdempotencyKeyAsync("alpha", "k", None);
            Assert.Null(await store.FindIdempotencyKeyAsync("alpha", "k", T0, None));

            // Refused upstream: the generation is recorded, and the key still goes, so a retry runs afresh.
            await store.ClaimIdempotencyKeyAsync(claim, None);
            await store.AdmitAsync(Minimal(T0) with { OwnerClient = "alpha" }, new AdmissionLimits(null, null, null, Day, Day), "k", None);
            await store.ReleaseIdempotencyKeyAsync("alpha", "k", None);
            Assert.Null(await store.FindIdempotencyKeyAsync("alpha", "k", T0, None));

            await store.ClaimIdempotencyKeyAsync(claim, None);
            await store.AdmitAsync(Minimal(T0) with { OwnerClient = "alpha" }, new AdmissionLimits(null, null, null, Day, Day), "k", None);
            await store.CompleteIdempotencyKeyAsync("alpha", "k", 202, null, None);
            await store.ReleaseIdempotencyKeyAsync("alpha", "k", None);
            Assert.NotNull(await store.FindIdempotencyKeyAsync("alpha", "k", T0, None));

            Assert.Equal(0, await store.DeleteExpiredIdempotencyKeysAsync(T0.AddHours(23), None));
            Assert.Equal(1, await store.DeleteExpiredIdempotencyKeysAsync(T0.AddHours(24), None));
        },
        ["IdempotencyKey_CompletedWithAProblem_KeepsItToReplay"] = async open =>
        {
            var store = await open();
            await store.ClaimIdempotencyKeyAsync(new IdempotencyClaim("alpha", "k", "h", T0, T0.AddHours(24)), None);
            var problem = new StoredProblem("upstream_timeout", 504, "The upstream did not answer within 60 s.", 504);

            await store.CompleteIdempotencyKeyAsync("alpha", "k", 504, problem, None);

            var held = await store.FindIdempotencyKeyAsync("alpha", "k", T0, None);
            Assert.Equal(504, held!.StatusCode);
            Assert.Equal("upstream_timeout", held.ProblemCode);
            Assert.Equal(problem, held.Problem);
        },
        ["Sweeps_FindOnlyOldUnansweredCreates_AndConcurrentSettlersSettleEachOnce"] = async open =>
        {
            var store = await open();
            var now = Day.AddHours(12);
            var stranded = Enumerable.Range(0, 10).Select(i => Minimal(now.AddMinutes(-10).AddSeconds(i)) with { UpstreamRequestId = $"gen.{i}" }).ToList();
            var others = new[]
            {
                Minimal(now.AddMinutes(-10)) with { UpstreamId = "up-1" },
                Minimal(now.AddSeconds(-5)),
                Minimal(now.AddMinutes(-10), status: GenerationStatus.Failed),
            };
            foreach (var generation in stranded.Concat(others))
            {
                await store.InsertAsync(generation, None);
            }

            var found = await store.FindUnansweredCreatesAsync(now.AddMinutes(-1), 100, None);
            Assert.Equal(stranded.Select(g => g.Id), found.Select(g => g.Id));
            Assert.Equal(3, (await store.FindUnansweredCreatesAsync(now.AddMinutes(-1), 3, None)).Count);

            var error = new GenerationError(GenerationErrorCodes.Interrupted, "stopped");
            var wins = await Task.WhenAll(Enumerable.Range(0, 4).SelectMany(_ => stranded).Select(async g =>
                await (await open()).SettleInterruptedAsync(g.Id, error, now, None)));
            Assert.Equal(10, wins.Count(w => w));
            var settled = await store.FindAsync(stranded[0].Id, None);
            Assert.Equal(GenerationStatus.Failed, settled!.Status);
            Assert.Equal(error, settled.Error);
            Assert.Equal(GenerationBilling.Unknown, settled.Billing);
            Assert.Equal(now, settled.CompletedAt);
            Assert.Empty(await store.FindUnansweredCreatesAsync(now.AddMinutes(-1), 100, None));
            Assert.False(await store.SettleInterruptedAsync(others[0].Id, error, now, None));
            Assert.Equal(GenerationStatus.Queued, (await store.FindAsync(others[0].Id, None))!.Status);
            Assert.Equal(0, (await store.UsageAsync("anonymous", Day, Day, None)).InFlight - 2);
        },
        ["Sweeps_SettleBillingOnce_AndOnlyNotBilledIsRefunded"] = async open =>
        {
            var store = await open();
            var now = Day.AddHours(12);
            var billed = Minimal(now.AddHours(-1), status: GenerationStatus.Failed) with
            {
                OwnerClient = "alpha", VideoSeconds = 5, Billing = GenerationBilling.Unknown, UpstreamRequestId = "gen.b",
            };
            var notBilled = billed with { Id = GenerationId.New(), UpstreamRequestId = "gen.n" };
            var tooOld = billed with { Id = GenerationId.New(), UpstreamRequestId = "gen.o", CreatedAt = now.AddDays(-8) };
            var noId = billed with { Id = GenerationId.New(), UpstreamRequestId = null };
            foreach (var generation in new[] { billed, notBilled, tooOld, noId })
            {
                await store.InsertAsync(generation, None);
            }

            Assert.Equal(new[] { billed.Id, notBilled.Id }.Order(StringComparer.Ordinal),
                (await store.FindUnknownBillingAsync(now.AddDays(-7), 100, None)).Select(g => g.Id).Order(StringComparer.Ordinal));
            var wins = await Task.WhenAll(Enumerable.Range(0, 4).Select(async i => await (await open()).SettleBillingAsync(
                i % 2 == 0 ? billed.Id : notBilled.Id, i % 2 == 0 ? GenerationBilling.Billed : GenerationBilling.NotBilled, now, None)));
            await store.SettleBillingAsync(billed.Id, GenerationBilling.NotBilled, now, None);

            Assert.Equal(2, wins.Count(w => w));
            Assert.Equal(GenerationBilling.Billed, (await store.FindAsync(billed.Id, None))!.Billing);
            Assert.False((await store.FindAsync(billed.Id, None))!.Refunded);
            Assert.True((await store.FindAsync(notBilled.Id, None))!.Refunded);
            Assert.Equal(5 + 5, (await store.UsageAsync("alpha", Day, Day, None)).Rows.Sum(r => r.VideoSeconds));
            Assert.Empty(await store.FindUnknownBillingAsync(now.AddDays(-7), 100, None));
        },
        ["Sweeps_CloseTheKeysOfInterruptedCreates_AndDropOldClaimsThatNeverGotOne"] = async open =>
        {
            var store = await open();
            var limits = new AdmissionLimits(null, null, null, Day, Day);
            var interrupted = Minimal(T0) with { OwnerClient = "alpha" };
            var running = Minimal(T0) with { OwnerClient = "alpha" };
            foreach (var (key, generation) in new[] { ("k-interrupted", interrupted), ("k-running", running) })
            {
                await store.ClaimIdempotencyKeyAsync(new IdempotencyClaim("alpha", key, "h", T0, T0.AddHours(24)), None);
                await store.AdmitAsync(generation, limits, key, None);
            }

            await store.ClaimIdempotencyKeyAsync(new IdempotencyClaim("alpha", "k-orphan-old", "h", T0, T0.AddHours(24)), None);
            await store.ClaimIdempotencyKeyAsync(new IdempotencyClaim("alpha", "k-orphan-new", "h", T0.AddMinutes(5), T0.AddHours(24)), None);
            await store.SettleInterruptedAsync(interrupted.Id, new GenerationError(GenerationErrorCodes.Interrupted, "stopped"), T0, None);
            var answer = new StoredProblem("create_interrupted", 409, "stopped", null);

            Assert.Equal(2, await store.CloseInterruptedIdempotencyKeysAsync(answer, T0.AddMinutes(1), None));
            Assert.Equal(0, await store.CloseInterruptedIdempotencyKeysAsync(answer, T0.AddMinutes(1), None));
            var closed = await store.FindIdempotencyKeyAsync("alpha", "k-interrupted", T0, None);
            Assert.Equal(409, closed!.StatusCode);
            Assert.Equal(answer, closed.Problem);
            Assert.False((await store.FindIdempotencyKeyAsync("alpha", "k-running", T0, None))!.IsComplete);
            Assert.Null(await store.FindIdempotencyKeyAsync("alpha", "k-orphan-old", T0, None));
            Assert.NotNull(await store.FindIdempotencyKeyAsync("alpha", "k-orphan-new", T0, None));
        },
        ["InitializeTwice_KeepsData_AndIsReachable"] = async open =>
        {
            var store = await open();
            var generation = Full();
            await store.InsertAsync(generation, None);
            await store.InitializeAsync(None);
            var another = await open();
            AssertSame(generation, await another.FindAsync(generation.Id, None));
            Assert.True(await another.IsReachableAsync(None));
        },
        ["ClaimRefresh_OfManyAtOnce_OnlyOneWins_AndOnlyWhenDue"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0) with { UpstreamId = "up-1", NextRefreshAt = T0.AddSeconds(5) };
            await store.InsertAsync(generation, None);
            Assert.Null(await store.ClaimRefreshAsync(generation.Id, T0.AddSeconds(4), T0.AddSeconds(9), None));

            // Twelve claimants on their own connections (replicas, the worker, readers) at the same due moment.
            var claims = await Task.WhenAll(Enumerable.Range(0, 12).Select(async _ =>
                await (await open()).ClaimRefreshAsync(generation.Id, T0.AddSeconds(5), T0.AddSeconds(10), None)));

            var won = Assert.Single(claims, c => c is not null)!;
            Assert.Equal(T0.AddSeconds(10), won.NextRefreshAt);
            Assert.Null(await store.ClaimRefreshAsync(generation.Id, T0.AddSeconds(9), T0.AddSeconds(14), None));
            Assert.NotNull(await store.ClaimRefreshAsync(generation.Id, T0.AddSeconds(10), T0.AddSeconds(15), None));
        },
        ["ClaimDueRefreshes_TakesOnlyDueRows_LongestDueFirst_EachOnce"] = async open =>
        {
            var store = await open();
            var rows = Enumerable.Range(0, 30).Select(i => Minimal(T0) with { UpstreamId = $"up-{i}", NextRefreshAt = T0.AddSeconds(i) }).ToList();
            var finished = Minimal(T0, status: GenerationStatus.Succeeded) with { UpstreamId = "up-done" };
            foreach (var g in rows.Append(finished))
            {
                await store.InsertAsync(g, None);
            }

            var now = T0.AddSeconds(19);
            var first = await store.ClaimDueRefreshesAsync(now, now.AddSeconds(5), 5, None);
            Assert.Equal(rows.Take(5).Select(g => g.Id).Order(), first.Select(g => g.Id).Order());

            var batches = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
                await (await open()).ClaimDueRefreshesAsync(now, now.AddSeconds(5), 8, None)));

            var claimed = batches.SelectMany(b => b).Select(g => g.Id).ToList();
            Assert.Equal(claimed.Count, claimed.Distinct().Count());
            Assert.Equal(rows.Skip(5).Take(15).Select(g => g.Id).Order(), claimed.Order());
            Assert.All(batches.SelectMany(b => b), g => Assert.Equal(now.AddSeconds(5), g.NextRefreshAt));
            Assert.Empty(await store.ClaimDueRefreshesAsync(now, now.AddSeconds(5), 8, None));
        },
        ["RecordChange_OverAStaleVersion_WritesNothing_AndVisibleChangesTakeANewVersion"] = async open =>
        {
            var store = await open();
            var generation = Minimal(T0) with { UpstreamId = "up-1" };
            await store.InsertAsync(generation, None);

            var checkedOnly = await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Checked,
                generation with { NextRefreshAt = T0.AddSeconds(5) }, ExpectedVersion: 0), None);
            var progressed = await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Progressed,
                generation with { Status = GenerationStatus.Processing }, ExpectedVersion: 0), None);
            var stale = await store.RecordChangeAsync(new GenerationChange(GenerationChangeKind.Failed,
                generation with { Status = GenerationStatus.Failed }, ExpectedVersion: 0), None);

            Assert.Equal(0, checkedOnly!.Version);
            Assert.Equal(1, progressed!.Version);
            Assert.Null(stale);
            var stored = await store.FindAsync(generation.Id, None);
            Assert.Equal(GenerationStatus.Processing, stored!.Status);
            Assert.Equal(1, stored.Version);
        },
        ["ClaimDueDownloads_CountsTheAttempt_AndLeasesIt"] = async open =>
        {
            var store = await open();
            var pending = Minimal(T0, status: GenerationStatus.Succeeded) with { Kept = new KeptVideo(KeptVideoState.Pending, NextAttemptAt: T0) };
            var later = Minimal(T0, status: GenerationStatus.Succeeded) with { Kept = new KeptVideo(KeptVideoState.Pending, NextAttemptAt: T0.AddMinutes(1)) };
            var stored = Minimal(T0, status: GenerationStatus.Succeeded) with { Kept = new KeptVideo(KeptVideoState.Stored, 1, null, "k", 1, "video/mp4", "ab", T0) };
            foreach (var g in new[] { pending, later, stored })
            {
                await store.InsertAsync(g, None);
            }

            var claims = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
                await (await open()).ClaimDueDownloadsAsync(T0.AddSeconds(1), T0.AddMinutes(5), 10, None)));

            var claimed = Assert.Single(claims.SelectMany(c => c));
            Assert.Equal(pending.Id, claimed.Id);
            Assert.Equal(1, claimed.Kept!.Attempts);
            Assert.Equal(T0.AddMinutes(5), claimed.Kept.NextAttemptAt);
            // Four minutes on: the other pending one is due, the leased one is not (its lease runs five).
            Assert.Equal([later.Id], (await store.ClaimDueDownloadsAsync(T0.AddMinutes(4), T0.AddMinutes(9), 10, None)).Select(g => g.Id));
        },
        ["Secret_IsAddedOnce_AndEveryoneReadsTheFirst"] = async open =>
        {
            var values = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
                await (await open()).GetOrAddSecretAsync("test-secret", $"candidate-{i}", None)));

            Assert.Single(values.Distinct());
            Assert.StartsWith("candidate-", values[0], StringComparison.Ordinal);
        },
    };

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var name in Cases.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    public static Task RunAsync(string name, Func<Task<SqlLedgerStore>> open) => Cases[name](open);

    private static string[] Ids(GenerationPage page) => [.. page.Items.Select(g => g.Id)];
}

public sealed class SqliteLedgerContractTests : IDisposable
{
    private readonly LedgerFixture _ledger = new();

    public void Dispose() => _ledger.Dispose();

    [Theory]
    [MemberData(nameof(LedgerContract.Names), MemberType = typeof(LedgerContract))]
    public Task Sqlite(string contractCase) => LedgerContract.RunAsync(contractCase, async () => await _ledger.OpenInitializedAsync());
}

public sealed class PostgresLedgerContractTests : IAsyncLifetime
{
    private readonly PostgresLedgerFixture _ledger = new();

    public Task InitializeAsync() => _ledger.InitializeAsync();

    public Task DisposeAsync() => _ledger.DisposeAsync();

    [PostgresTheory]
    [MemberData(nameof(LedgerContract.Names), MemberType = typeof(LedgerContract))]
    public Task Postgres(string contractCase) => LedgerContract.RunAsync(contractCase, async () => await _ledger.OpenInitializedAsync());

    [PostgresFact]
    public async Task Migration_RecordsItsVersion_AndRefusesANewerDatabase()
    {
        var store = await _ledger.OpenInitializedAsync();
        Assert.Equal(PostgresGenerationStore.SchemaVersion, Convert.ToInt32(await _ledger.Database!.ScalarAsync("SELECT version FROM ledger_schema_version;")));

        await _ledger.Database!.ScalarAsync("UPDATE ledger_schema_version SET version = 99;");
        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => store.InitializeAsync(CancellationToken.None));
        Assert.Contains("schema version 99", exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", exception.Message, StringComparison.OrdinalIgnoreCase);
    }
}
