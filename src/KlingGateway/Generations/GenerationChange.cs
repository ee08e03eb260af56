namespace KlingGateway.Generations;

/// <summary>What happened to a generation, as recorded in the ledger.</summary>
public enum GenerationChangeKind
{
    /// <summary>A write of the whole outcome with no more specific kind (<see cref="IGenerationStore.UpdateAsync"/>).</summary>
    Updated,

    /// <summary>The upstream accepted the create and gave its id.</summary>
    Started,

    /// <summary>The create failed (refused, unreachable, timed out): the generation is failed from the start.</summary>
    CreateFailed,

    /// <summary>A refresh saw the status or the upstream's word move, short of the end (queued to processing).</summary>
    Progressed,

    /// <summary>A refresh saw nothing a caller would notice; only when to ask next changed. Not a visible change.</summary>
    Checked,

    /// <summary>The upstream reported it completed, with or without a video.</summary>
    Succeeded,

    /// <summary>The upstream reported it failed (or sent a word the gateway does not know).</summary>
    Failed,

    /// <summary>The watchdog failed it: not finished by <c>Generations:Deadline</c>.</summary>
    DeadlineExceeded,

    /// <summary>A generation the watchdog had failed completed upstream after all; its video is kept like any other.</summary>
    LateSucceeded,

    /// <summary>The video was downloaded and stored.</summary>
    VideoStored,

    /// <summary>A download attempt failed and another will follow. Not a visible change.</summary>
    VideoRetry,

    /// <summary>The download gave up; the video is streamed from the upstream's URL instead.</summary>
    VideoFailed,

    /// <summary>The retention sweep removed the stored video.</summary>
    VideoExpired,

    /// <summary>
    /// A create the gateway stopped before hearing back about, failed as <c>interrupted</c> by the settlement worker
    /// (<see cref="CreateSettlementWorker"/>), its billing unknown.
    /// </summary>
    Interrupted,

    /// <summary>The upstream's usage log said whether such a create was billed; a create it did not bill is refunded.</summary>
    BillingSettled,
}

/// <summary>
/// One change of a generation, written by <see cref="IGenerationStore.RecordChangeAsync"/>: the one statement every
/// writer of a generation after its create goes through (the create's answer, refreshes, the watchdog, downloads,
/// retention, and the settlement of interrupted creates and their billing). A visible change also writes its event and
/// webhook deliveries in that same transaction (<see cref="Ledger.SqlLedgerStore.RecordChangeAsync"/>, <c>Ledger/EventRecorder.cs</c>).
/// </summary>
/// <param name="Kind">What happened.</param>
/// <param name="Generation">The generation as it is after the change (its <see cref="Generation.Version"/> is ignored).</param>
/// <param name="ExpectedVersion">
/// Write only when the ledger still holds this version (the one the change was computed from); <see langword="null"/>
/// writes whatever is there.
/// </param>
public sealed record GenerationChange(GenerationChangeKind Kind, Generation Generation, long? ExpectedVersion)
{
    /// <summary>Whether a caller reading the generation would notice it: such changes take a new version.</summary>
    public bool IsVisible => Kind is not (GenerationChangeKind.Checked or GenerationChangeKind.VideoRetry);
}
