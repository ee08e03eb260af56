using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using KlingGateway.Generations;
using KlingGateway.Videos;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace KlingGateway.Events;

/// <summary>
/// How an event reads on the wire: the generation resource exactly as <c>GET /v1/generations/{id}</c> answers it (the
/// same type and the same JSON settings as the route's answer, the video link signed for the base it is read under),
/// framed as a server-sent event or wrapped as a webhook's body.
/// </summary>
/// <remarks>
/// The frames are written here rather than by ASP.NET Core 10's <c>TypedResults.ServerSentEvents</c>: that result (and
/// the <c>SseFormatter</c> under it) writes <c>SseItem</c>s only, with no way to write a comment line, which is what a
/// heartbeat is (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation: a line
/// starting with a colon is ignored by the reader), and it formats each item for each stream, where one event's frame is
/// rendered once and its bytes shared by every stream that reads it under the same base URL.
/// </remarks>
public sealed class EventRenderer(VideoLinks links, IOptions<JsonOptions> json)
{
    /// <summary>A heartbeat: a comment line and the blank line that ends it.</summary>
    public static ReadOnlyMemory<byte> Heartbeat { get; } = ": heartbeat\n\n"u8.ToArray();

    private JsonTypeInfo<GenerationResource>? _resource;

    private JsonTypeInfo<GenerationResource> ResourceInfo =>
        _resource ??= (JsonTypeInfo<GenerationResource>)json.Value.SerializerOptions.GetTypeInfo(typeof(GenerationResource));

    /// <summary>The resource's JSON, its video link under <paramref name="baseUrl"/>.</summary>
    public byte[] ResourceJson(Generation generation, string baseUrl) =>
        JsonSerializer.SerializeToUtf8Bytes(GenerationResource.From(generation, links.Describe(generation, baseUrl)), ResourceInfo);

    /// <summary>
    /// One event's frame: <c>id:</c> (left out when <paramref name="id"/> is null, so the client's last event id stays),
    /// <c>event:</c>, and the resource as one <c>data:</c> line (compact JSON never holds a line break).
    /// </summary>
    public byte[] Frame(long? id, string type, Generation generation, string baseUrl)
    {
        var data = ResourceJson(generation, baseUrl);
        var head = Encoding.UTF8.GetBytes(id is { } value
            ? string.Create(CultureInfo.InvariantCulture, $"id: {value}\nevent: {type}\ndata: ")
            : $"event: {type}\ndata: ");
        var frame = new byte[head.Length + data.Length + 2];
        head.CopyTo(frame, 0);
        data.CopyTo(frame, head.Length);
        frame[^2] = (byte)'\n';
        frame[^1] = (byte)'\n';
        return frame;
    }

    /// <summary>The opening of a stream: how long to wait before reconnecting (<c>retry:</c>, in milliseconds).</summary>
    public static byte[] Retry(TimeSpan delay) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"retry: {(long)delay.TotalMilliseconds}\n\n"));

    /// <summary>
    /// A webhook's body as Standard Webhooks shapes it (https://www.standardwebhooks.com/, "Payload structure"):
    /// <c>{"type", "timestamp", "data"}</c>, with the resource as <c>data</c> and the change's time as <c>timestamp</c>.
    /// Its video link is under <c>Videos:PublicBaseUrl</c>, or relative when that is unset.
    /// </summary>
    public byte[] WebhookBody(GenerationEvent generationEvent)
    {
        ArgumentNullException.ThrowIfNull(generationEvent);
        var data = ResourceJson(generationEvent.Snapshot, links.PublicBaseUrl ?? "");
        using var buffer = new MemoryStream(data.Length + 128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", generationEvent.Type);
            writer.WriteString("timestamp", generationEvent.OccurredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
            writer.WritePropertyName("data");
            writer.WriteRawValue(data, skipInputValidation: true);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
