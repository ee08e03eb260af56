using System.Buffers;
using KlingGateway.Infrastructure;

namespace KlingGateway.Models;

/// <summary>
/// A create body's bytes, in one array that grows as they arrive: it starts small whatever Content-Length announces,
/// doubles as it fills, and is never larger than the announced length (when there is one) or the body limit allows.
/// Each array is reserved in the <see cref="BodyBufferBudget"/> before it is taken and released when it is dropped.
/// Arrays up to <see cref="PooledUpTo"/> come from the shared pool; larger ones are allocated and left to the collector
/// when the request ends, so a burst of large bodies does not stay behind in the pool.
/// </summary>
internal sealed class BodyBuffer(BodyBufferBudget? budget) : IDisposable
{
    /// <summary>What is taken before the first byte arrives: a URL-only body fits.</summary>
    public const int InitialBytes = 16 * 1024;

    private const int PooledUpTo = 1024 * 1024;

    private byte[] _array = [];

    // What was reserved and is used of the array (a pooled array can be longer than asked for).
    private int _capacity;

    /// <summary>Bytes received so far.</summary>
    public int Length { get; private set; }

    /// <summary>The received bytes (valid until disposed).</summary>
    public ReadOnlyMemory<byte> Memory => _array.AsMemory(0, Length);

    /// <summary>Room for the next read; empty when the buffer is full.</summary>
    public Memory<byte> Free => _array.AsMemory(Length, _capacity - Length);

    /// <summary>Bytes this buffer holds in the budget.</summary>
    public long Reserved => _capacity;

    /// <summary>Counts <paramref name="count"/> more bytes as received into <see cref="Free"/>.</summary>
    public void Advance(int count) => Length += count;

    /// <summary>
    /// Makes room for more bytes: the first array, or one twice as large (at most <paramref name="atMost"/>), with what
    /// was received copied over. False when the budget has no room for it, even after a short wait.
    /// </summary>
    public async ValueTask<bool> GrowAsync(int atMost, CancellationToken cancellationToken)
    {
        var size = _capacity == 0 ? Math.Min(InitialBytes, atMost) : (int)Math.Min(_capacity * 2L, atMost);
        if (budget is not null && !await budget.ReserveAsync(size, cancellationToken))
        {
            return false;
        }

        var larger = size <= PooledUpTo ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);
        _array.AsSpan(0, Length).CopyTo(larger);
        var length = Length;
        Drop();
        (_array, _capacity, Length) = (larger, size, length);
        return true;
    }

    public void Dispose() => Drop();

    private void Drop()
    {
        var (array, capacity) = (_array, _capacity);
        (_array, _capacity, Length) = ([], 0, 0);
        if (capacity == 0)
        {
            return;
        }

        budget?.Release(capacity);
        if (capacity <= PooledUpTo)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
