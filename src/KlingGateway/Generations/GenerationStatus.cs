using System.Text.Json.Serialization;

namespace KlingGateway.Generations;

/// <summary>
/// The gateway's normalized generation status (docs/upstream.md, "Statuses"). The upstream's own words are
/// mapped by <see cref="StatusMapper"/>; in JSON the values are written in lowercase.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<GenerationStatus>))]
public enum GenerationStatus
{
    /// <summary>Accepted and waiting for a worker (upstream <c>queued</c>, <c>waiting</c>).</summary>
    [JsonStringEnumMemberName("queued")]
    Queued,

    /// <summary>Being rendered (upstream <c>generating</c>, <c>active</c>).</summary>
    [JsonStringEnumMemberName("processing")]
    Processing,

    /// <summary>Done, the video is available (upstream <c>completed</c>, <c>complete</c>).</summary>
    [JsonStringEnumMemberName("succeeded")]
    Succeeded,

    /// <summary>Ended without a video (upstream <c>error</c>, <c>failed</c>, or a word the gateway does not know).</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,
}
