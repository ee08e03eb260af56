using KlingGateway.Upstream;
using Microsoft.Extensions.Options;

namespace KlingGateway.Lifecycle;

/// <summary>
/// Keeps the background refresh worker from stampeding the upstream: a <c>Retry-After</c> on a 429 or 503 pauses the
/// whole worker (not one generation), and faults in a row that say the upstream itself is down (no connection, timeouts,
/// 5xx) pause it with an exponential backoff. One success ends the backoff. Reads a caller makes are not paused: each is
/// answered, with the fault and its Retry-After when the upstream refuses.
/// </summary>
public sealed class UpstreamPacer(IOptions<AimlApiOptions> options, TimeProvider time)
{
    /// <summary>Faults in a row before the worker backs off: one flaky answer is not an outage.</summary>
    public const int FaultsBeforeBackoff = 3;

    /// <summary>The longest backoff after faults in a row.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private DateTimeOffset _pausedUntil = DateTimeOffset.MinValue;
    private int _faultsInARow;

    /// <summary>Until when the worker must not start a fetch; in the past when it may.</summary>
    public DateTimeOffset PausedUntil
    {
        get
        {
            lock (_lock)
            {
                return _pausedUntil;
            }
        }
    }

    /// <summary>Learns from one fetch's outcome: <see langword="null"/> for an answer, else its fault.</summary>
    public void Observe(UpstreamFault? fault)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            switch (fault?.Kind)
            {
                case null:
                    _faultsInARow = 0;
                    break;
                case UpstreamFaultKind.RateLimited or UpstreamFaultKind.Unavailable:
                    // docs/upstream.md, "Errors": a 429 is a rate or concurrency limit of the whole account.
                    var wait = fault.RetryAfter ?? TimeSpan.FromSeconds(options.Value.DefaultRetryAfterSeconds);
                    Extend(now + wait);
                    break;
                case UpstreamFaultKind.ConnectFailure or UpstreamFaultKind.Timeout or UpstreamFaultKind.ServerError
                    or UpstreamFaultKind.GatewayTimeout:
                    _faultsInARow++;
                    if (_faultsInARow >= FaultsBeforeBackoff)
                    {
                        // Kling advises exponential backoff from at least one second (docs/upstream.md, "Errors").
                        var backoff = TimeSpan.FromSeconds(Math.Pow(2, Math.Min(_faultsInARow - FaultsBeforeBackoff, 10)));
                        Extend(now + (backoff > MaxBackoff ? MaxBackoff : backoff));
                    }

                    break;
                default:
                    // A fault of one generation (404, an unreadable answer): nothing about the upstream as a whole.
                    break;
            }
        }
    }

    private void Extend(DateTimeOffset until)
    {
        if (until > _pausedUntil)
        {
            _pausedUntil = until;
        }
    }
}
