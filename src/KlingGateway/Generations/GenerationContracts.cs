namespace KlingGateway.Generations;

/// <summary>A generation as the gateway reports it: one normalized status whatever the upstream's words.</summary>
/// <param name="Id">The gateway's opaque id. The upstream's id is never exposed.</param>
/// <param name="Model">The model id.</param>
/// <param name="Status">queued, processing, succeeded or failed.</param>
/// <param name="UpstreamStatus">The upstream's own word, for diagnosis (e.g. generating, waiting, completed).</param>
/// <param name="Video">The finished video, once succeeded.</param>
/// <param name="Error">Why it failed, once failed.</param>
/// <param name="Usage">What the upstream reported it used.</param>
/// <param name="Warnings">Fields accepted but ignored by the model.</param>
/// <param name="CreatedAt">When the gateway accepted it (UTC).</param>
/// <param name="UpdatedAt">When its status last changed (UTC).</param>
/// <param name="CompletedAt">When it reached succeeded or failed (UTC). A late success completes again, when it arrives.</param>
/// <param name="DeadlinePassedAt">
/// When the watchdog failed it for running past the gateway's deadline (<c>deadline_exceeded</c>). It stays set when the
/// upstream completes it later: such a generation turns <c>succeeded</c>, and its video is kept like any other.
/// </param>
/// <param name="Billing">
/// Only on a failed create whose outcome upstream the gateway never learned from the create's answer (error code
/// interrupted, upstream_timeout or upstream_bad_response, or a connection that broke after the create was sent): what
/// the upstream's usage log says. unknown: not known yet, or the log could not be read; the generation stays charged
/// against the client's budget. billed: the upstream billed it; it stays charged. not_billed: the log shows it failed,
/// or still lacks it after the grace period; it is refunded.
/// </param>
public sealed record GenerationResource(
    string Id,
    string Model,
    GenerationStatus Status,
    string? UpstreamStatus,
    VideoResource? Video,
    ErrorResource? Error,
    UsageResource? Usage,
    IReadOnlyList<GenerationWarning> Warnings,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt,
    DateTimeOffset? DeadlinePassedAt,
    GenerationBilling? Billing)
{
    /// <summary>The resource, with its video as the gateway serves it (<c>Videos.VideoLinks.Describe</c>).</summary>
    public static GenerationResource From(Generation generation, VideoResource? video) => new(
        generation.Id,
        generation.Model,
        generation.Status,
        generation.UpstreamStatus,
        video,
        generation.Error is { } e ? new ErrorResource(e.Code, e.Message) : null,
        generation.Usage is { } u ? new UsageResource(u.CreditsUsed, u.TokensUsed) : null,
        generation.Warnings,
        generation.CreatedAt,
        generation.UpdatedAt,
        generation.CompletedAt,
        generation.DeadlinePassedAt,
        generation.Billing);
}

/// <summary>The finished video, served by the gateway itself.</summary>
/// <param name="Url">
/// The gateway's link to it (<c>/v1/generations/{id}/content?token=...</c>): a plain GET with no credentials works until
/// <paramref name="UrlExpiresAt"/>, so a <c>&lt;video src&gt;</c> plays it; with the caller's own credentials the route
/// works without the token too. Reading the generation again gives a fresh link.
/// </param>
/// <param name="ContentType">Its media type (video/mp4): as stored, else as the upstream said.</param>
/// <param name="FileName">Its file name, when the upstream says.</param>
/// <param name="FileSize">Its size in bytes: as stored, else as the upstream said.</param>
/// <param name="Storage">
/// Where the gateway's copy stands: <c>stored</c> (served from the gateway's storage), <c>pending</c> (being downloaded;
/// the link streams it from the upstream meanwhile), <c>failed</c> (not kept; the link streams it from the upstream while
/// the upstream serves it), <c>expired</c> (removed after the retention period; the link answers 410), or
/// <c>not_kept</c> (storage is off; the link streams it from the upstream).
/// </param>
/// <param name="Sha256">Lower-case hex SHA-256 of the stored file, once stored.</param>
/// <param name="UrlExpiresAt">When <paramref name="Url"/> stops working without credentials.</param>
/// <param name="RetainedUntil">When the stored video will be removed (the retention period after completion).</param>
public sealed record VideoResource(
    string Url,
    string? ContentType,
    string? FileName,
    long? FileSize,
    string Storage,
    string? Sha256,
    DateTimeOffset? UrlExpiresAt,
    DateTimeOffset? RetainedUntil);

/// <summary>Why a generation failed.</summary>
/// <param name="Code">One of: generation_failed, unknown_status, upstream_rejected, upstream_unavailable, upstream_timeout, upstream_bad_response, interrupted, deadline_exceeded.</param>
/// <param name="Message">The upstream's message, or the gateway's.</param>
public sealed record ErrorResource(string Code, string Message);

/// <summary>What the upstream reported the generation used (credits_used in current specs, tokens_used in older ones).</summary>
public sealed record UsageResource(double? CreditsUsed, double? TokensUsed);

/// <summary>One page of generations, newest first.</summary>
/// <param name="Items">The generations on this page.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; absent on the last page.</param>
public sealed record GenerationList(IReadOnlyList<GenerationResource> Items, string? NextCursor);

/// <summary>A generation in the upstream's own answer shape, carrying the gateway's id (the compatible routes).</summary>
/// <param name="Id">The gateway's id: pass it as generation_id when polling.</param>
/// <param name="Status">The upstream's words: queued, generating, completed or error.</param>
/// <param name="Video">The finished video, once completed.</param>
/// <param name="Error">Why it failed, once error.</param>
/// <param name="Meta">Usage, when the upstream reported it.</param>
/// <param name="Warnings">Fields accepted but ignored by the model (create answers).</param>
public sealed record CompatibleGeneration(
    string Id,
    string Status,
    CompatibleVideo? Video,
    CompatibleError? Error,
    CompatibleMeta? Meta,
    IReadOnlyList<GenerationWarning>? Warnings)
{
    /// <summary>The answer, with its video as the compatible routes show it (<c>Videos.VideoLinks.DescribeCompatible</c>).</summary>
    public static CompatibleGeneration From(Generation generation, bool withWarnings, CompatibleVideo? video) => new(
        generation.Id,
        generation.Status.ToUpstreamWord(),
        video,
        generation.Error is { } e ? new CompatibleError(e.Code, e.Message) : null,
        generation.Usage is { } u ? new CompatibleMeta(new UsageResource(u.CreditsUsed, u.TokensUsed)) : null,
        withWarnings ? generation.Warnings : null);
}

/// <summary>The upstream's <c>video</c> object.</summary>
/// <param name="Url">The gateway's link to the video (see <see cref="VideoResource.Url"/>), or the upstream's own URL where
/// <c>Videos:CompatibleVideoUrl</c> is <c>upstream</c>.</param>
/// <param name="ContentType">Its media type.</param>
/// <param name="FileName">Its file name, when the upstream says.</param>
/// <param name="FileSize">Its size in bytes.</param>
public sealed record CompatibleVideo(string Url, string? ContentType, string? FileName, long? FileSize);

/// <summary>The upstream's <c>{name, message}</c> error shape.</summary>
public sealed record CompatibleError(string Name, string Message);

/// <summary>The upstream's <c>meta</c> object.</summary>
public sealed record CompatibleMeta(UsageResource Usage);
