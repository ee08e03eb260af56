using KlingGateway.Upstream;

namespace KlingGateway.Generations;

/// <summary>The settings a generation's life follows, read once per decision.</summary>
/// <param name="RefreshInterval">How often an unfinished generation is asked about.</param>
/// <param name="Deadline">How long after its create a generation may stay unfinished.</param>
/// <param name="LateCheckWindow">How long past the deadline it is still asked about.</param>
/// <param name="LateCheckInterval">How often during that window.</param>
/// <param name="KeepVideos">Whether the gateway downloads and keeps finished videos.</param>
public sealed record LifecyclePolicy(
    TimeSpan RefreshInterval, TimeSpan Deadline, TimeSpan LateCheckWindow, TimeSpan LateCheckInterval, bool KeepVideos)
{
    /// <summary>When a generation created at <paramref name="createdAt"/> is past its deadline.</summary>
    public DateTimeOffset DeadlineOf(DateTimeOffset createdAt) => createdAt + Deadline;

    /// <summary>When its late checks end.</summary>
    public DateTimeOffset LateChecksEndOf(DateTimeOffset createdAt) => createdAt + Deadline + LateCheckWindow;

    /// <summary>
    /// The wait before the next refresh after <paramref name="failures"/> failed ones in a row: the interval doubled per
    /// failure, up to <see cref="GenerationOptions.MaxRefreshBackoff"/> (never below the interval itself).
    /// </summary>
    public TimeSpan Backoff(int failures)
    {
        var cap = RefreshInterval > GenerationOptions.MaxRefreshBackoff ? RefreshInterval : GenerationOptions.MaxRefreshBackoff;
        var factor = Math.Pow(2, Math.Min(failures, 20));
        var wait = RefreshInterval * factor;
        return wait > cap ? cap : wait;
    }
}

/// <summary>
/// How a generation moves on: from what the upstream answered, from a failed fetch, or from the clock (the watchdog).
/// Pure functions of the generation, the answer and the time, so every path that changes a generation (a read, the
/// background worker, the watchdog) decides the same way; the caller records the change.
/// </summary>
public static class GenerationTransitions
{
    /// <summary>Whether the watchdog failed this generation and it is still being asked about in its late window.</summary>
    public static bool IsLateWatched(Generation generation) =>
        generation.Status == GenerationStatus.Failed && generation.Error?.Code == GenerationErrorCodes.DeadlineExceeded
        && generation.NextRefreshAt is not null;

    /// <summary>
    /// The change an upstream answer makes to a claimed generation (its <see cref="Generation.NextRefreshAt"/> is the
    /// claim's lease, kept as the next refresh time while it stays unfinished).
    /// </summary>
    public static GenerationChange Fetched(Generation generation, UpstreamGeneration fetched, DateTimeOffset now, LifecyclePolicy policy)
    {
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(fetched);
        ArgumentNullException.ThrowIfNull(policy);

        var known = StatusMapper.IsKnown(fetched.Status);
        var status = StatusMapper.Map(fetched.Status);
        var video = fetched.Video is { } v ? new GenerationVideo(v.Url, v.ContentType, v.FileName, v.FileSize) : generation.Video;
        var usage = fetched.CreditsUsed is not null || fetched.TokensUsed is not null
            ? new GenerationUsage(fetched.CreditsUsed, fetched.TokensUsed)
            : generation.Usage;
        var answered = generation with { RefreshedAt = now, RefreshFailures = 0 };

        if (IsLateWatched(generation))
        {
            return status switch
            {
                GenerationStatus.Succeeded => new(GenerationChangeKind.LateSucceeded, Succeed(answered, fetched.Status, video, usage, now, policy),
                    generation.Version),
                GenerationStatus.Failed => new(GenerationChangeKind.Failed, answered with
                {
                    UpstreamStatus = fetched.Status,
                    Error = FailureOf(fetched, known),
                    Usage = usage,
                    UpdatedAt = now,
                    NextRefreshAt = null,
                }, generation.Version),
                // Still running upstream: asked again at the slow cadence until the window ends.
                _ => new(GenerationChangeKind.Checked, answered with
                {
                    NextRefreshAt = LateCheck(generation, now, policy),
                }, generation.Version),
            };
        }

        if (status == GenerationStatus.Succeeded)
        {
            return new(GenerationChangeKind.Succeeded, Succeed(answered, fetched.Status, video, usage, now, policy), generation.Version);
        }

        if (status == GenerationStatus.Failed)
        {
            return new(GenerationChangeKind.Failed, answered with
            {
                Status = GenerationStatus.Failed,
                UpstreamStatus = fetched.Status,
                Video = video,
                Error = FailureOf(fetched, known),
                Usage = usage,
                UpdatedAt = now,
                CompletedAt = generation.CompletedAt ?? now,
                NextRefreshAt = null,
            }, generation.Version);
        }

        var moved = answered with { Status = status, UpstreamStatus = fetched.Status, Video = video, Usage = usage };
        if (now >= policy.DeadlineOf(generation.CreatedAt))
        {
            return Expire(moved, now, policy);
        }

        var changed = status != generation.Status || fetched.Status != generation.UpstreamStatus;
        return changed
            ? new(GenerationChangeKind.Progressed, moved with { UpdatedAt = now }, generation.Version)
            : new(GenerationChangeKind.Checked, moved, generation.Version);
    }

    /// <summary>
    /// The change a failed fetch makes: nothing a caller sees, only a later next refresh (backoff), unless the deadline
    /// has passed. An upstream 404 for a generation is such a fault too: it falls under the deadline rather than failing
    /// the generation at once, since the upstream may only have lost track of it for a while.
    /// </summary>
    public static GenerationChange FetchFailed(Generation generation, UpstreamFault fault, DateTimeOffset now, LifecyclePolicy policy)
    {
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(fault);
        ArgumentNullException.ThrowIfNull(policy);

        if (IsLateWatched(generation))
        {
            return new(GenerationChangeKind.Checked, generation with { NextRefreshAt = LateCheck(generation, now, policy) }, generation.Version);
        }

        if (now >= policy.DeadlineOf(generation.CreatedAt))
        {
            return Expire(generation, now, policy);
        }

        var failures = generation.RefreshFailures + 1;
        return new(GenerationChangeKind.Checked, generation with
        {
            RefreshFailures = failures,
            NextRefreshAt = now + policy.Backoff(failures),
        }, generation.Version);
    }

    /// <summary>The watchdog's change for an unfinished generation past its deadline; <see langword="null"/> when it is not.</summary>
    public static GenerationChange? Overdue(Generation generation, DateTimeOffset now, LifecyclePolicy policy)
    {
        ArgumentNullException.ThrowIfNull(generation);
        ArgumentNullException.ThrowIfNull(policy);

        return generation.Status.IsTerminal() || generation.UpstreamId is null || now < policy.DeadlineOf(generation.CreatedAt)
            ? null
            : Expire(generation, now, policy);
    }

    private static GenerationChange Expire(Generation generation, DateTimeOffset now, LifecyclePolicy policy) =>
        new(GenerationChangeKind.DeadlineExceeded, generation with
        {
            Status = GenerationStatus.Failed,
            Error = new GenerationError(GenerationErrorCodes.DeadlineExceeded,
                $"The generation had not finished {Describe(policy.Deadline)} after it was created (Generations:Deadline). " +
                "It may have been billed, so it is not refunded. The gateway keeps checking for a while: a video that arrives late is still kept."),
            UpdatedAt = now,
            CompletedAt = now,
            DeadlinePassedAt = now,
            NextRefreshAt = policy.LateCheckWindow > TimeSpan.Zero ? now + policy.LateCheckInterval : null,
        }, generation.Version);

    private static Generation Succeed(
        Generation generation, string? upstreamStatus, GenerationVideo? video, GenerationUsage? usage, DateTimeOffset now, LifecyclePolicy policy) =>
        generation with
        {
            Status = GenerationStatus.Succeeded,
            UpstreamStatus = upstreamStatus,
            Video = video,
            Error = null,
            Usage = usage,
            UpdatedAt = now,
            // A late success completes now: its video is as new as the moment the gateway learned of it.
            CompletedAt = generation.Status == GenerationStatus.Failed ? now : generation.CompletedAt ?? now,
            NextRefreshAt = null,
            // A paid video is kept: downloaded by the video worker, starting now.
            Kept = policy.KeepVideos && video is not null ? new KeptVideo(KeptVideoState.Pending, NextAttemptAt: now) : generation.Kept,
        };

    private static GenerationError FailureOf(UpstreamGeneration fetched, bool known) => known
        ? new GenerationError(GenerationErrorCodes.GenerationFailed,
            fetched.ErrorMessage ?? fetched.ErrorName ?? "The upstream reported that the generation failed.")
        : new GenerationError(GenerationErrorCodes.UnknownStatus,
            $"The upstream reported the status '{fetched.Status}', which the gateway does not know; it is treated as a failure." +
            (fetched.ErrorMessage is { } detail ? $" Upstream message: {detail}" : ""));

    private static DateTimeOffset? LateCheck(Generation generation, DateTimeOffset now, LifecyclePolicy policy) =>
        now + policy.LateCheckInterval < policy.LateChecksEndOf(generation.CreatedAt) ? now + policy.LateCheckInterval : null;

    private static string Describe(TimeSpan span) =>
        span.TotalMinutes >= 1 ? $"{span.TotalMinutes:0.#} minutes" : $"{span.TotalSeconds:0.#} seconds";
}
