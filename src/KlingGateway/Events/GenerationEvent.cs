using System.Text.Json;
using System.Text.Json.Serialization;
using KlingGateway.Generations;

namespace KlingGateway.Events;

/// <summary>
/// One change of a generation a caller can see, as the ledger's event log keeps it: recorded in the same transaction as
/// the change (<see cref="Ledger.SqlLedgerStore.RecordChangeAsync"/>, and the admission for <c>generation.queued</c>), read by
/// the event streams (<see cref="EventHub"/>) and reported by webhooks (<c>Webhooks/</c>).
/// </summary>
/// <param name="Sequence">
/// The log's own key: one sequence for every generation, increasing in the order the changes committed, as far as the
/// readers of the log can tell (see <see cref="EventHub"/>). The <c>id:</c> of the all-generations stream.
/// </param>
/// <param name="GenerationId">The generation.</param>
/// <param name="Version">
/// The generation's version after the change (<see cref="Generation.Version"/>: 0 at its create, one more for every
/// change a caller can see). The <c>id:</c> of the one-generation stream.
/// </param>
/// <param name="Type">The event's name (<see cref="GenerationEventTypes"/>).</param>
/// <param name="OwnerClient">Who may see it: the generation's client...</param>
/// <param name="OwnerUser">...and user.</param>
/// <param name="OccurredAt">When the change was recorded.</param>
/// <param name="IsFinal">Whether the generation's one-generation stream ends with this event (<see cref="GenerationEventTypes.IsFinal"/>).</param>
/// <param name="Snapshot">The generation as it was after the change, with what callers never see left out.</param>
public sealed record GenerationEvent(
    long Sequence,
    string GenerationId,
    long Version,
    string Type,
    string OwnerClient,
    string? OwnerUser,
    DateTimeOffset OccurredAt,
    bool IsFinal,
    Generation Snapshot)
{
    // Frames rendered for this event, by stream kind and base URL: ten thousand subscribers of one generation, all
    // reaching the gateway under one name, share one rendering (EventStream).
    private readonly Lock _framesLock = new();
    private (string Key, byte[] Frame)[] _frames = [];

    /// <summary>The frame for <paramref name="key"/>, rendered once by <paramref name="render"/> and kept with the event.</summary>
    public byte[] Frame(string key, Func<GenerationEvent, byte[]> render)
    {
        foreach (var (known, frame) in Volatile.Read(ref _frames))
        {
            if (string.Equals(known, key, StringComparison.Ordinal))
            {
                return frame;
            }
        }

        lock (_framesLock)
        {
            foreach (var (known, frame) in _frames)
            {
                if (string.Equals(known, key, StringComparison.Ordinal))
                {
                    return frame;
                }
            }

            var rendered = render(this);
            // Bounded: an event lives for seconds, and a host is reached under a handful of names.
            if (_frames.Length < 8)
            {
                Volatile.Write(ref _frames, [.. _frames, (key, rendered)]);
            }

            return rendered;
        }
    }
}

/// <summary>
/// The names of a generation's events: <c>generation.{status}</c> whenever its status, error or anything else of the
/// resource changes with the status as it is (so a name can repeat: the create's <c>generation.queued</c> is followed by
/// another <c>generation.queued</c> once the upstream has accepted it and <c>upstream_status</c> is set), and a name of
/// its own for a change of the video or the billing.
/// </summary>
public static class GenerationEventTypes
{
    public const string Queued = "generation.queued";
    public const string Processing = "generation.processing";
    public const string Succeeded = "generation.succeeded";
    public const string Failed = "generation.failed";

    /// <summary>The gateway has stored the video: <c>video.storage</c> is <c>stored</c> (with its size and SHA-256).</summary>
    public const string VideoStored = "generation.video_stored";

    /// <summary>The gateway gave up keeping the video: it is streamed from the upstream's URL while that serves it.</summary>
    public const string VideoFailed = "generation.video_failed";

    /// <summary>The retention period ended and the stored video was removed.</summary>
    public const string VideoExpired = "generation.video_expired";

    /// <summary>A create of unknown outcome was settled against the upstream's usage log: <c>billing</c> says how.</summary>
    public const string BillingSettled = "generation.billing_settled";

    /// <summary>Every name, for configuration checks and the documentation.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Queued, Processing, Succeeded, Failed, VideoStored, VideoFailed, VideoExpired, BillingSettled];

    /// <summary>The name of the event a change raises.</summary>
    public static string For(GenerationChangeKind kind, Generation generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        return kind switch
        {
            GenerationChangeKind.VideoStored => VideoStored,
            GenerationChangeKind.VideoFailed => VideoFailed,
            GenerationChangeKind.VideoExpired => VideoExpired,
            GenerationChangeKind.BillingSettled => BillingSettled,
            _ => ForStatus(generation.Status),
        };
    }

    /// <summary><c>generation.{status}</c>.</summary>
    public static string ForStatus(GenerationStatus status) => status switch
    {
        GenerationStatus.Queued => Queued,
        GenerationStatus.Processing => Processing,
        GenerationStatus.Succeeded => Succeeded,
        GenerationStatus.Failed => Failed,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    /// <summary>
    /// Whether a generation in this state has had its last event a one-generation stream waits for: finished, its video
    /// settled (stored, given up, or not kept), and not in the watchdog's late window, where a late success may still
    /// come. What may follow (billing settled, the video expiring after the retention period) reaches the
    /// all-generations stream and webhooks, not a stream that waits for the generation to end.
    /// </summary>
    public static bool IsFinal(Generation generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        return generation.Status.IsTerminal() && generation.Kept?.State != KeptVideoState.Pending
            && !GenerationTransitions.IsLateWatched(generation);
    }
}

/// <summary>How a generation is kept in the event log: what its resource is made from, nothing else.</summary>
internal static class EventSnapshot
{
    /// <summary>
    /// The generation without what no caller sees and the log need not hold: the upstream's id, the request summary, the
    /// upstream's video URL (it may carry its host's signature), the download's error text and the callback URL.
    /// </summary>
    public static string Serialize(Generation generation)
    {
        ArgumentNullException.ThrowIfNull(generation);
        var trimmed = generation with
        {
            UpstreamId = null,
            RequestSummary = "",
            Video = generation.Video is { } video ? video with { Url = "" } : null,
            Kept = generation.Kept is { } kept ? kept with { Error = null } : null,
            WebhookUrl = null,
            ClientRequestId = null,
            ExternalTaskId = null,
        };
        return JsonSerializer.Serialize(trimmed, EventJsonContext.Default.Generation);
    }

    public static Generation Deserialize(string json) =>
        JsonSerializer.Deserialize(json, EventJsonContext.Default.Generation)
        ?? throw new InvalidDataException("The event log holds an empty snapshot.");
}

/// <summary>Source-generated JSON for the event log's snapshots (a ledger column, not a wire format).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Generation))]
internal sealed partial class EventJsonContext : JsonSerializerContext;
