using KlingGateway.Models;
using Microsoft.Extensions.Options;

namespace KlingGateway.Infrastructure;

/// <summary>Request size limits and how the host stops. Section <c>Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>
    /// Largest create body. A first and a last frame of 10 MB each are about 27 MB as base64, so the default leaves
    /// room for both and the other fields; anything larger is a 413 problem. Create routes raise the server's own
    /// per-request limit to this; every other route keeps Kestrel's default.
    /// </summary>
    public long MaxRequestBodyBytes { get; set; } = GenerationRequest.MaxBodyBytes;

    /// <summary>
    /// The most bytes all create bodies being received or read may hold at once, across every request (see
    /// <see cref="BodyBufferBudget"/>). The default, 128 MiB, is a third of the 384 MiB heap .NET takes under the
    /// container's 512Mi limit (deploy/base): what bodies hold, plus the parser's own index of about a body's size,
    /// plus what the runtime's array pool keeps of those indexes for reuse, stays well inside the heap. It must leave
    /// room for one body of <see cref="MaxRequestBodyBytes"/> and its index.
    /// </summary>
    public long MaxBufferedBodyBytes { get; set; } = DefaultMaxBufferedBodyBytes;

    public const long DefaultMaxBufferedBodyBytes = 128L * 1024 * 1024;

    /// <summary>
    /// How long a stopping host (SIGTERM) lets requests in flight finish before it aborts them. A create cut off here
    /// may have started paid work upstream without the ledger learning its id, so this should cover the creates you
    /// expect to be in flight; orchestrators must allow a little more (Kubernetes terminationGracePeriodSeconds).
    /// See <see cref="HostingExtensions"/>.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

public static class LimitsExtensions
{
    public static IServiceCollection AddGatewayLimits(this IServiceCollection services)
    {
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section)
            .Validate(o => o.MaxRequestBodyBytes is >= 1024 * 1024 and <= int.MaxValue,
                "Gateway:MaxRequestBodyBytes must be between 1048576 (1 MB) and 2147483647.")
            .Validate(o => o.MaxBufferedBodyBytes >= 2 * o.MaxRequestBodyBytes + 1024 * 1024,
                "Gateway:MaxBufferedBodyBytes (Gateway__MaxBufferedBodyBytes) must be at least twice Gateway:MaxRequestBodyBytes " +
                "plus 1 MB, room for one largest body and the parser's index of it.")
            .ValidateOnStart();
        services.AddSingleton<BodyBufferBudget>();
        return services;
    }
}

/// <summary>
/// The bytes held by create bodies across all requests, bounded by <see cref="GatewayOptions.MaxBufferedBodyBytes"/>.
/// A body's buffer grows with the bytes that actually arrive (never with what Content-Length announces), and every
/// growth, and the parser's index of a whole body, is reserved here first. Slow callers holding bodies open can fill
/// the budget, but not the heap: a create that finds no room waits up to <see cref="Wait"/> for some to be released,
/// then is answered 503 with Retry-After, never a 500 from running out of memory.
/// </summary>
public sealed class BodyBufferBudget(IOptions<GatewayOptions> options)
{
    /// <summary>How long a create waits for room before it is refused.</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(2);

    /// <summary>The Retry-After of the refusal.</summary>
    public const int RetryAfterSeconds = 5;

    private long _held;
    private TaskCompletionSource _released = NewSignal();

    /// <summary>Bytes reserved now.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>The bound.</summary>
    public long Limit => options.Value.MaxBufferedBodyBytes;

    /// <summary>Reserves <paramref name="bytes"/> if they fit now.</summary>
    public bool TryReserve(long bytes)
    {
        var limit = Limit;
        while (true)
        {
            var held = Interlocked.Read(ref _held);
            if (held + bytes > limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _held, held + bytes, held) == held)
            {
                return true;
            }
        }
    }

    /// <summary>Reserves <paramref name="bytes"/>, waiting up to <see cref="Wait"/> for others to release room.</summary>
    public async ValueTask<bool> ReserveAsync(long bytes, CancellationToken cancellationToken)
    {
        if (TryReserve(bytes))
        {
            return true;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Wait);
        while (true)
        {
            var released = Volatile.Read(ref _released).Task;
            if (TryReserve(bytes))
            {
                return true;
            }

            try
            {
                await released.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return TryReserve(bytes);
            }
        }
    }

    /// <summary>Gives back what <see cref="TryReserve"/> or <see cref="ReserveAsync"/> took, and wakes those waiting.</summary>
    public void Release(long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        Interlocked.Add(ref _held, -bytes);
        Interlocked.Exchange(ref _released, NewSignal()).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
