using Microsoft.Extensions.Caching.Memory;

namespace KlingGateway.Generations;

/// <summary>
/// Generations that will not change again for a while (finished, video settled, not watched late), answered from memory
/// instead of the ledger; ownership is still checked on every read. Bounded by count, and by an absolute expiry, so a
/// change another replica records (a late success, a video stored or expired) shows within a minute; this replica's own
/// changes drop the entry at once (<see cref="GenerationRecorder"/>).
/// </summary>
public sealed class SettledGenerations : IDisposable
{
    private const int MaxEntries = 50_000;
    private static readonly MemoryCacheEntryOptions Entry = new() { Size = 1, AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1) };
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = MaxEntries });

    public Generation? Find(string id) => _cache.TryGetValue(id, out Generation? settled) ? settled : null;

    /// <summary>Keeps <paramref name="generation"/> when it is settled; otherwise does nothing.</summary>
    public void KeepIfSettled(Generation generation)
    {
        if (IsSettled(generation))
        {
            _cache.Set(generation.Id, generation, Entry);
        }
    }

    public void Forget(string id) => _cache.Remove(id);

    /// <summary>
    /// Finished, with its video settled, no late checks left and its billing known (one still unknown changes once more,
    /// in <see cref="CreateSettlementWorker"/>): it will not change for a long while.
    /// </summary>
    private static bool IsSettled(Generation generation) =>
        generation.Status.IsTerminal() && generation.NextRefreshAt is null && generation.Billing != GenerationBilling.Unknown
        && generation.Kept?.State is null or KeptVideoState.Stored or KeptVideoState.Failed or KeptVideoState.Expired;

    public void Dispose() => _cache.Dispose();
}
