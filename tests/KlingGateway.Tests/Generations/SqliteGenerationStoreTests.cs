using KlingGateway.Generations;
using KlingGateway.Ledger;
using Microsoft.Data.Sqlite;
using static KlingGateway.Tests.Generations.SampleGenerations;

namespace KlingGateway.Tests.Generations;

public sealed class SqliteGenerationStoreTests : IDisposable
{
    private static readonly CancellationToken None = CancellationToken.None;

    private readonly LedgerFixture _ledger = new();

    public void Dispose() => _ledger.Dispose();

    [Fact]
    public async Task InsertThenFind_RoundTripsEveryField()
    {
        var store = await _ledger.OpenInitializedAsync();
        var generation = Full();

        await store.InsertAsync(generation, None);

        AssertSame(generation, await store.FindAsync(generation.Id, None));
    }

    [Fact]
    public async Task InsertWithOnlyRequiredFields_FindsNullsAndNoWarnings()
    {
        var store = await _ledger.OpenInitializedAsync();
        var generation = Minimal(T0);

        await store.InsertAsync(generation, None);
        var found = await store.FindAsync(generation.Id, None);

        AssertSame(generation, found);
        Assert.Null(found!.UpstreamId);
        Assert.Null(found.Video);
        Assert.Null(found.Error);
        Assert.Null(found.Usage);
        Assert.Empty(found.Warnings);
        Assert.Null(found.CompletedAt);
        Assert.Null(found.RefreshedAt);
    }

    [Fact]
    public async Task UsageWithOneNumber_RoundTrips()
    {
        var store = await _ledger.OpenInitializedAsync();
        var generation = Minimal(T0) with { Usage = new GenerationUsage(CreditsUsed: null, TokensUsed: 7.25) };

        await store.InsertAsync(generation, None);

        Assert.Equal(new GenerationUsage(null, 7.25), (await store.FindAsync(generation.Id, None))!.Usage);
    }

    [Fact]
    public async Task FindUnknownId_ReturnsNull()
    {
        var store = await _ledger.OpenInitializedAsync();
        await store.InsertAsync(Minimal(T0), None);

        Assert.Null(await store.FindAsync(GenerationId.New(), None));
    }

    [Fact]
    public async Task InsertSameIdTwice_Throws()
    {
        var store = await _ledger.OpenInitializedAsync();
        var generation = Minimal(T0);
        await store.InsertAsync(generation, None);

        var exception = await Assert.ThrowsAsync<SqliteException>(() => store.InsertAsync(generation, None));

        Assert.Equal(19, exception.SqliteErrorCode); // SQLITE_CONSTRAINT
    }

    [Fact]
    public async Task Update_ChangesTheOutcomeAndKeepsWhatTheCreateFixed()
    {
        var store = await _ledger.OpenInitializedAsync();
        var created = Minimal(T0);
        await store.InsertAsync(created, None);
        // Every field differs from the created row, the fixed ones (model, owner, price, request, created_at) included.
        var update = Full() with
        {
            Id = created.Id, CreatedAt = T0.AddDays(3), OwnerClient = "beta", OwnerUser = "u-9", VideoSeconds = 10, CostUsd = 1.4m,
            Refunded = true,
        };

        await store.UpdateAsync(update, None);

        var stored = await store.FindAsync(created.Id, None);
        AssertSame(Updated(created, update), stored);
        Assert.Equal("completed", stored!.UpstreamStatus);
        Assert.Equal(V1Standard, stored.Model);
        Assert.Equal("anonymous", stored.OwnerClient);
    }

    [Fact]
    public async Task UpdateBackToEmpty_ClearsTheOptionalFields()
    {
        var store = await _ledger.OpenInitializedAsync();
        var full = Full();
        await store.InsertAsync(full, None);
        var cleared = Minimal(full.CreatedAt) with { Id = full.Id };

        await store.UpdateAsync(cleared, None);

        var stored = await store.FindAsync(full.Id, None);
        AssertSame(Updated(full, cleared), stored);
        Assert.Null(stored!.Video);
        Assert.Null(stored.Error);
        Assert.Null(stored.Usage);
    }

    [Fact]
    public async Task AFailedWrite_LeavesTheWriterAndItsKeptStatementsUsable()
    {
        var store = await _ledger.OpenInitializedAsync();
        var first = Minimal(T0);
        await store.InsertAsync(first, None);
        await Assert.ThrowsAsync<SqliteException>(() => store.InsertAsync(first, None));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.UpdateAsync(Minimal(T0), None));

        // The same insert and update statements, now with other values, after each failed.
        var second = Minimal(T0.AddSeconds(1));
        await store.InsertAsync(second, None);
        var done = second with { Status = GenerationStatus.Succeeded, UpstreamId = "up-2", UpdatedAt = T0.AddMinutes(4) };
        await store.UpdateAsync(done, None);

        AssertSame(first, await store.FindAsync(first.Id, None));
        AssertSame(done with { Version = 1 }, await store.FindAsync(second.Id, None));
    }

    [Fact]
    public async Task SustainedWrites_KeepTheWalBounded_AndEveryRowLands()
    {
        // A small policy so the bound shows in a short test: a checkpoint every 2 commits, the writer's past 64 pages.
        var policy = new SqliteCheckpointPolicy(EveryCommits: 2, WriterAtPages: 64);
        var store = await _ledger.OpenInitializedAsync(policy);
        var walPath = _ledger.FilePath + "-wal";
        var written = new System.Collections.Concurrent.ConcurrentBag<Generation>();
        long largestWal = 0;

        // 16 writers, each a create and its upstream answer 100 times, reading it back and looking at the WAL's size.
        await Task.WhenAll(Enumerable.Range(0, 16).Select(writer => Task.Run(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                var created = Minimal(T0.AddSeconds(i));
                await store.InsertAsync(created, None);
                var answered = created with { Status = GenerationStatus.Processing, UpstreamId = $"up-{writer}-{i}", UpdatedAt = T0.AddMinutes(1) };
                await store.UpdateAsync(answered, None);
                Assert.Equal(answered.UpstreamId, (await store.FindAsync(answered.Id, None))!.UpstreamId);
                written.Add(answered);
                var size = new FileInfo(walPath).Length;
                long seen;
                while (size > (seen = Interlocked.Read(ref largestWal)) && Interlocked.CompareExchange(ref largestWal, size, seen) != seen)
                {
                }
            }
        })));

        // Unchecked, this run's WAL passes 60 MiB; checked, it stays at 1.4-2.6 MiB. SQLite's checkpoint on the writer
        // starts it over once it is past 64 pages and no reader is still on it; readers that always are can hold it off.
        Assert.InRange(largestWal, 1, 8L << 20);

        // Once writes slow down, a checkpoint finds the WAL quiet and the next commit starts it over, cut back to the limit.
        var wal = new FileInfo(walPath);
        var shrunk = false;
        for (var attempt = 0; attempt < 200 && !shrunk; attempt++)
        {
            await store.InsertAsync(Minimal(T0), None);
            await Task.Delay(10);
            wal.Refresh();
            shrunk = wal.Length <= policy.WalSizeLimitBytes;
        }

        Assert.True(shrunk, $"WAL still {wal.Length} bytes");
        var reopened = await _ledger.OpenInitializedAsync();
        foreach (var generation in written)
        {
            AssertSame(Updated(generation, generation), await reopened.FindAsync(generation.Id, None));
        }

        Assert.Equal(1600, written.Count);
    }

    [Fact]
    public async Task UpdateUnknownId_ThrowsKeyNotFound()
    {
        var store = await _ledger.OpenInitializedAsync();

        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.UpdateAsync(Minimal(T0), None));
    }

    [Fact]
    public async Task List_ReturnsNewestFirst()
    {
        var store = await _ledger.OpenInitializedAsync();
        var older = Minimal(T0);
        var newest = Minimal(T0.AddMinutes(2));
        var middle = Minimal(T0.AddMinutes(1));
        foreach (var generation in new[] { older, newest, middle })
        {
            await store.InsertAsync(generation, None);
        }

        var page = await store.ListAsync(new GenerationQuery(null, null, 10, null), None);

        Assert.Equal([newest.Id, middle.Id, older.Id], page.Items.Select(g => g.Id));
        Assert.Null(page.Next);
        AssertSame(newest, page.Items[0]);
    }

    [Fact]
    public async Task ListWithStatusFilter_ReturnsOnlyThatStatus()
    {
        var store = await _ledger.OpenInitializedAsync();
        var succeeded = new[] { Minimal(T0, status: GenerationStatus.Succeeded), Minimal(T0.AddSeconds(5), status: GenerationStatus.Succeeded) };
        await store.InsertAsync(Minimal(T0.AddSeconds(1), status: GenerationStatus.Failed), None);
        await store.InsertAsync(Minimal(T0.AddSeconds(2), status: GenerationStatus.Processing), None);
        foreach (var generation in succeeded)
        {
            await store.InsertAsync(generation, None);
        }

        var page = await store.ListAsync(new GenerationQuery(GenerationStatus.Succeeded, null, 10, null), None);

        Assert.Equal([succeeded[1].Id, succeeded[0].Id], page.Items.Select(g => g.Id));
        Assert.Empty((await store.ListAsync(new GenerationQuery(GenerationStatus.Queued, null, 10, null), None)).Items);
    }

    [Fact]
    public async Task ListWithModelFilter_ReturnsOnlyThatModel()
    {
        var store = await _ledger.OpenInitializedAsync();
        var pro = Minimal(T0, model: V21Pro);
        var proFailed = Minimal(T0.AddSeconds(1), model: V21Pro, status: GenerationStatus.Failed);
        await store.InsertAsync(pro, None);
        await store.InsertAsync(proFailed, None);
        await store.InsertAsync(Minimal(T0.AddSeconds(2), model: V1Standard), None);

        var byModel = await store.ListAsync(new GenerationQuery(null, V21Pro, 10, null), None);
        var byBoth = await store.ListAsync(new GenerationQuery(GenerationStatus.Failed, V21Pro, 10, null), None);
        var unknownModel = await store.ListAsync(new GenerationQuery(null, "no/such/model", 10, null), None);

        Assert.Equal([proFailed.Id, pro.Id], byModel.Items.Select(g => g.Id));
        Assert.Equal([proFailed.Id], byBoth.Items.Select(g => g.Id));
        Assert.Empty(unknownModel.Items);
    }

    [Fact]
    public async Task PagingThroughThreePagesWithEqualTimes_HasNoDuplicatesOrGaps()
    {
        var store = await _ledger.OpenInitializedAsync();
        // Eight generations, three sharing one instant (in different offsets) and two sharing another, so page
        // boundaries fall inside runs of equal created_at and only the id breaks the tie.
        DateTimeOffset[] times =
        [
            T0, T0, T0.ToOffset(TimeSpan.FromHours(3)), T0.AddTicks(1), T0.AddMinutes(1), T0.AddMinutes(1),
            T0.AddMinutes(2), T0.AddMinutes(-1),
        ];
        var inserted = times.Select(time => Minimal(time)).ToList();
        foreach (var generation in inserted)
        {
            await store.InsertAsync(generation, None);
        }

        var pages = await ReadAllPagesAsync(store, new GenerationQuery(null, null, 3, null));

        Assert.Equal([3, 3, 2], pages.Select(p => p.Items.Count));
        Assert.NotNull(pages[0].Next);
        Assert.NotNull(pages[1].Next);
        Assert.Null(pages[2].Next);
        var expected = inserted
            .OrderByDescending(g => g.CreatedAt.UtcTicks)
            .ThenByDescending(g => g.Id, StringComparer.Ordinal)
            .Select(g => g.Id);
        Assert.Equal(expected, pages.SelectMany(p => p.Items).Select(g => g.Id));
    }

    [Fact]
    public async Task PagingWithAFilter_KeepsTheFilterAcrossPages()
    {
        var store = await _ledger.OpenInitializedAsync();
        var wanted = new List<Generation>();
        for (var i = 0; i < 14; i++)
        {
            var generation = Minimal(T0.AddSeconds(i / 3), status: i % 2 == 0 ? GenerationStatus.Failed : GenerationStatus.Queued);
            await store.InsertAsync(generation, None);
            if (generation.Status == GenerationStatus.Failed)
            {
                wanted.Add(generation);
            }
        }

        var pages = await ReadAllPagesAsync(store, new GenerationQuery(GenerationStatus.Failed, null, 3, null));

        Assert.Equal([3, 3, 1], pages.Select(p => p.Items.Count));
        Assert.Equal(
            wanted.Select(g => g.Id).Order(StringComparer.Ordinal),
            pages.SelectMany(p => p.Items).Select(g => g.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task LastPageExactlyFull_HasNoNext()
    {
        var store = await _ledger.OpenInitializedAsync();
        for (var i = 0; i < 6; i++)
        {
            await store.InsertAsync(Minimal(T0.AddSeconds(i)), None);
        }

        var pages = await ReadAllPagesAsync(store, new GenerationQuery(null, null, 3, null));

        Assert.Equal([3, 3], pages.Select(p => p.Items.Count));
        Assert.Null(pages[1].Next);
    }

    [Fact]
    public async Task NewerInsertsBetweenPages_DoNotShiftLaterPages()
    {
        var store = await _ledger.OpenInitializedAsync();
        var original = Enumerable.Range(0, 4).Select(i => Minimal(T0.AddSeconds(i))).ToList();
        foreach (var generation in original)
        {
            await store.InsertAsync(generation, None);
        }

        var first = await store.ListAsync(new GenerationQuery(null, null, 2, null), None);
        await store.InsertAsync(Minimal(T0.AddHours(1)), None);
        var second = await store.ListAsync(new GenerationQuery(null, null, 2, first.Next), None);

        Assert.Equal([original[1].Id, original[0].Id], second.Items.Select(g => g.Id));
    }

    [Fact]
    public async Task CursorThroughItsText_ContinuesTheSameWay()
    {
        var store = await _ledger.OpenInitializedAsync();
        for (var i = 0; i < 3; i++)
        {
            await store.InsertAsync(Minimal(T0.AddTicks(i)), None);
        }

        var first = await store.ListAsync(new GenerationQuery(null, null, 1, null), None);
        Assert.True(GenerationCursor.TryParse(first.Next!.Value.ToString(), out var parsed));
        var direct = await store.ListAsync(new GenerationQuery(null, null, 1, first.Next), None);
        var viaText = await store.ListAsync(new GenerationQuery(null, null, 1, parsed), None);

        Assert.Equal(direct.Items.Single().Id, viaText.Items.Single().Id);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(GenerationQuery.MaxLimit + 1)]
    public async Task LimitOutOfRange_Throws(int limit)
    {
        var store = await _ledger.OpenInitializedAsync();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => store.ListAsync(new GenerationQuery(null, null, limit, null), None));
    }

    [Fact]
    public async Task NewStoreOnTheSameFile_FindsEverythingAfterRestart()
    {
        var first = await _ledger.OpenInitializedAsync();
        var generations = new[] { Full(), Minimal(T0), Minimal(T0.AddSeconds(1)) };
        foreach (var generation in generations)
        {
            await first.InsertAsync(generation, None);
        }

        first.Dispose();
        var second = await _ledger.OpenInitializedAsync();

        foreach (var generation in generations)
        {
            AssertSame(generation, await second.FindAsync(generation.Id, None));
        }

        Assert.Equal(3, (await second.ListAsync(new GenerationQuery(null, null, 10, null), None)).Items.Count);
    }

    [Fact]
    public async Task InitializeTwice_KeepsDataAndSchemaVersion()
    {
        var store = await _ledger.OpenInitializedAsync();
        var generation = Full();
        await store.InsertAsync(generation, None);

        await store.InitializeAsync(None);
        await _ledger.Open().InitializeAsync(None);

        AssertSame(generation, await store.FindAsync(generation.Id, None));
        Assert.Equal((long)SqliteGenerationStore.SchemaVersion, await _ledger.ScalarAsync("PRAGMA user_version;"));
        Assert.Equal(5, SqliteGenerationStore.SchemaVersion);
    }

    [Fact]
    public async Task MigratingFromVersion2_ForgetsStoredRefusals_AndMarksEarlierUnansweredCreatesBillingUnknown()
    {
        // A ledger as the build before version 3 left it: a key that stored an upstream 429 (refunded), a key that
        // stored a timeout (kept), and the generations behind them.
        Directory.CreateDirectory(Path.GetDirectoryName(_ledger.FilePath)!);
        await _ledger.ScalarAsync(LedgerSchema.Sqlite[0] + LedgerSchema.Sqlite[1] + """
            PRAGMA user_version = 2;
            INSERT INTO generations (id, model, route_family, status, error_code, request_summary, created_at, updated_at, refunded)
            VALUES ('gen_refused', 'm', 'universal', 'failed', 'upstream_rejected', '{}', '2026-11-22T09:00:00.0000000Z', '2026-11-22T09:00:00.0000000Z', 1),
                   ('gen_timeout', 'm', 'universal', 'failed', 'upstream_timeout', '{}', '2026-11-22T09:00:00.0000000Z', '2026-11-22T09:00:00.0000000Z', 0),
                   ('gen_done', 'm', 'universal', 'succeeded', NULL, '{}', '2026-11-22T09:00:00.0000000Z', '2026-11-22T09:00:00.0000000Z', 0);
            INSERT INTO idempotency_keys (client, idempotency_key, request_hash, generation_id, status_code, problem_code, created_at, expires_at)
            VALUES ('alpha', 'refused', 'h', 'gen_refused', 429, 'upstream_rate_limited', '2026-11-22T09:00:00.0000000Z', '2999-01-01T00:00:00.0000000Z'),
                   ('alpha', 'timeout', 'h', 'gen_timeout', 504, 'upstream_timeout', '2026-11-22T09:00:00.0000000Z', '2999-01-01T00:00:00.0000000Z');
            """);

        var store = await _ledger.OpenInitializedAsync();

        Assert.Equal((long)SqliteGenerationStore.SchemaVersion, await _ledger.ScalarAsync("PRAGMA user_version;"));
        Assert.Null(await store.FindIdempotencyKeyAsync("alpha", "refused", T0, None));
        Assert.Equal("upstream_timeout", (await store.FindIdempotencyKeyAsync("alpha", "timeout", T0, None))!.ProblemCode);
        Assert.Equal(GenerationBilling.Unknown, (await store.FindAsync("gen_timeout", None))!.Billing);
        Assert.Null((await store.FindAsync("gen_refused", None))!.Billing);
        Assert.Null((await store.FindAsync("gen_done", None))!.Billing);
        // Sent before creates had ids of their own: the usage log cannot be asked about it.
        Assert.Empty(await store.FindUnknownBillingAsync(T0.AddYears(-1), 10, None));
    }

    [Fact]
    public async Task Initialize_CreatesTheDirectoryWalModeTableAndIndexes()
    {
        Assert.False(Directory.Exists(Path.GetDirectoryName(_ledger.FilePath)));

        await _ledger.OpenInitializedAsync();

        Assert.True(File.Exists(_ledger.FilePath));
        Assert.Equal("wal", await _ledger.ScalarAsync("PRAGMA journal_mode;"));
        Assert.Equal(
            "ix_generations_billing_unknown,ix_generations_created,ix_generations_model,ix_generations_next_refresh,ix_generations_owner,"
            + "ix_generations_status,ix_generations_unanswered,ix_generations_upstream_id,ix_generations_video_due,ix_generations_video_kept",
            await _ledger.ScalarAsync(
                "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master " +
                "WHERE type = 'index' AND tbl_name = 'generations' AND name LIKE 'ix_%' ORDER BY name);"));
    }

    [Fact]
    public async Task FileFromANewerBuild_RefusesToInitialize()
    {
        await _ledger.OpenInitializedAsync();
        await _ledger.ScalarAsync("PRAGMA user_version = 99;");

        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => _ledger.Open().InitializeAsync(None));

        Assert.Contains("schema version 99", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProcessingGeneration_IsStoredAsTheApiWord()
    {
        var store = await _ledger.OpenInitializedAsync();
        var generation = Minimal(T0, status: GenerationStatus.Processing);
        await store.InsertAsync(generation, None);

        Assert.Equal("processing", await _ledger.ScalarAsync("SELECT status FROM generations;"));
    }

    [Fact]
    public async Task FiftyParallelInsertsThenUpdates_AllLand()
    {
        var store = await _ledger.OpenInitializedAsync();
        var generations = Enumerable.Range(0, 50).Select(i => Minimal(T0.AddMilliseconds(i))).ToList();

        await Task.WhenAll(generations.Select(g => Task.Run(() => store.InsertAsync(g, None))));
        await Task.WhenAll(generations.Select(g => Task.Run(async () =>
        {
            await store.UpdateAsync(
                g with { Status = GenerationStatus.Succeeded, UpstreamId = "up-" + g.Id, UpdatedAt = g.UpdatedAt.AddMinutes(5) }, None);
            Assert.NotNull(await store.FindAsync(g.Id, None));
        })));

        var pages = await ReadAllPagesAsync(store, new GenerationQuery(GenerationStatus.Succeeded, null, GenerationQuery.MaxLimit, null));
        var stored = pages.SelectMany(p => p.Items).ToList();
        Assert.Equal(50, stored.Count);
        Assert.All(stored, g => Assert.Equal("up-" + g.Id, g.UpstreamId));
    }

    [Fact]
    public async Task ParallelWritersOnSeparateStoreInstances_AllLand()
    {
        // Two instances stand in for two processes sharing the file: only SQLite's lock orders their writes.
        var stores = new[] { await _ledger.OpenInitializedAsync(), await _ledger.OpenInitializedAsync() };

        await Task.WhenAll(Enumerable.Range(0, 50).Select(i =>
            Task.Run(() => stores[i % 2].InsertAsync(Minimal(T0.AddSeconds(i)), None))));

        Assert.Equal(50L, await _ledger.ScalarAsync("SELECT count(*) FROM generations;"));
    }

    [Fact]
    public async Task BurstOfWrites_AdmitsExactlyTheBudgetAndAFailingWriteFailsAlone()
    {
        var store = await _ledger.OpenInitializedAsync();
        var day = new DateTimeOffset(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);
        var now = day.AddHours(12);
        var existing = Minimal(now.AddMinutes(-1)) with { OwnerClient = "beta" };
        await store.InsertAsync(existing, None);

        // One store, so the writes queue behind one writer and commit in groups. Every call is started before any
        // is awaited: 100 admissions of $1 against a $37 budget, 40 plain inserts, and in the middle of them a
        // duplicate id and an update of a row that does not exist.
        var limits = new AdmissionLimits(null, null, 37m, day, now);
        var admissions = new List<Task<Admission>>();
        var inserts = new List<Task>();
        var others = Enumerable.Range(0, 40).Select(i => Minimal(now.AddMilliseconds(i)) with { OwnerClient = "beta" }).ToList();
        for (var i = 0; i < 100; i++)
        {
            admissions.Add(store.AdmitAsync(Minimal(now) with { OwnerClient = "alpha", CostUsd = 1m }, limits, null, None));
            if (i < others.Count)
            {
                inserts.Add(store.InsertAsync(others[i], None));
            }
        }

        var duplicate = store.InsertAsync(existing, None);
        var missing = store.UpdateAsync(Minimal(now) with { OwnerClient = "beta" }, None);

        var results = await Task.WhenAll(admissions);
        await Task.WhenAll(inserts);
        var exception = await Assert.ThrowsAsync<SqliteException>(() => duplicate);
        Assert.Equal(19, exception.SqliteErrorCode); // SQLITE_CONSTRAINT
        await Assert.ThrowsAsync<KeyNotFoundException>(() => missing);

        Assert.Equal(37, results.Count(r => r.Admitted));
        Assert.All(results.Where(r => !r.Admitted), r => Assert.Equal(AdmissionRefusal.Budget, r.Refusal));
        Assert.Equal(37L, await _ledger.ScalarAsync("SELECT count(*) FROM generations WHERE owner_client = 'alpha';"));
        Assert.Equal(37_000_000L, await _ledger.ScalarAsync("SELECT sum(cost_micros) FROM generations WHERE owner_client = 'alpha';"));
        Assert.Equal(41L, await _ledger.ScalarAsync("SELECT count(*) FROM generations WHERE owner_client = 'beta';"));
        foreach (var other in others)
        {
            Assert.NotNull(await store.FindAsync(other.Id, None));
        }
    }

    [Fact]
    public async Task WriteCanceledWhileQueued_IsLeftOutAndTheOthersLand()
    {
        var store = await _ledger.OpenInitializedAsync();
        using var canceled = new CancellationTokenSource();
        var generations = Enumerable.Range(0, 20).Select(i => Minimal(T0.AddMilliseconds(i))).ToList();

        var writes = generations.Select((g, i) => store.InsertAsync(g, i == 10 ? canceled.Token : None)).ToList();
        await canceled.CancelAsync();

        foreach (var (write, i) in writes.Select((w, i) => (w, i)))
        {
            if (i == 10)
            {
                try
                {
                    await write;
                }
                catch (OperationCanceledException)
                {
                    // Cancelled before its turn: its row must not be there.
                    Assert.Null(await store.FindAsync(generations[i].Id, None));
                }
            }
            else
            {
                await write;
            }
        }

        Assert.True(await _ledger.ScalarAsync("SELECT count(*) FROM generations;") is 19L or 20L);
    }

    [Fact]
    public async Task InitializedStore_IsReachable()
    {
        var store = await _ledger.OpenInitializedAsync();

        Assert.True(await store.IsReachableAsync(None));
    }

    [Fact]
    public async Task StoreNeverInitialized_IsNotReachable()
    {
        var store = _ledger.Open();

        Assert.False(await store.IsReachableAsync(None));
    }

    [Fact]
    public async Task CanceledToken_StopsTheOperation()
    {
        var store = await _ledger.OpenInitializedAsync();
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.InsertAsync(Minimal(T0), canceled.Token));
        Assert.Equal(0L, await _ledger.ScalarAsync("SELECT count(*) FROM generations;"));
    }

    private static async Task<List<GenerationPage>> ReadAllPagesAsync(IGenerationStore store, GenerationQuery query)
    {
        var pages = new List<GenerationPage>();
        GenerationCursor? after = null;
        do
        {
            var page = await store.ListAsync(query with { After = after }, None);
            pages.Add(page);
            after = page.Next;
            Assert.True(pages.Count < 100, "Paging did not end.");
        }
        while (after is not null);

        return pages;
    }
}
