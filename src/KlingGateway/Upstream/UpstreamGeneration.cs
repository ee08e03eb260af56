using System.Globalization;
using System.Text.Json;

namespace KlingGateway.Upstream;

/// <summary>
/// The upstream's create and fetch answer, read leniently: the specs and real outputs disagree on the error
/// shape, the usage key and the video fields (docs/upstream.md, "Statuses"), so each is read by hand rather than bound.
/// </summary>
public sealed record UpstreamGeneration(
    string Id,
    string? Status,
    UpstreamVideo? Video,
    string? ErrorName,
    string? ErrorMessage,
    double? CreditsUsed,
    double? TokensUsed)
{
    private const int MaxMessageLength = 1000;

    /// <summary>Reads an answer body; null when it is not a JSON object with a string <c>id</c>.</summary>
    public static UpstreamGeneration? Read(ReadOnlySpan<byte> utf8Json)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            using var document = JsonDocument.ParseValue(ref reader);
            return Read(document.RootElement);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static UpstreamGeneration? Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !TryString(root, "id", out var id) || string.IsNullOrEmpty(id))
        {
            return null;
        }

        TryString(root, "status", out var status);

        UpstreamVideo? video = null;
        if (root.TryGetProperty("video", out var v) && v.ValueKind == JsonValueKind.Object && TryString(v, "url", out var url) && url is not null)
        {
            TryString(v, "content_type", out var contentType);
            TryString(v, "file_name", out var fileName);
            video = new UpstreamVideo(url, contentType, fileName, TryNumber(v, "file_size") is { } size ? (long)size : null);
        }

        var (errorName, errorMessage) = root.TryGetProperty("error", out var error) ? DescribeError(error) : (null, null);

        double? credits = null, tokens = null;
        if (root.TryGetProperty("meta", out var meta) && meta.ValueKind == JsonValueKind.Object &&
            meta.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            credits = TryNumber(usage, "credits_used");
            tokens = TryNumber(usage, "tokens_used");
        }

        return new UpstreamGeneration(id, status, video, errorName, errorMessage, credits, tokens);
    }

    /// <summary>
    /// The generation-level error comes as <c>{name, message}</c>, as <c>{detail:[{loc, msg, type}]}</c>, as a bare
    /// string, or as anything else (docs/upstream.md, "Statuses"). Each becomes one readable message.
    /// </summary>
    internal static (string? Name, string? Message) DescribeError(JsonElement error)
    {
        switch (error.ValueKind)
        {
            case JsonValueKind.Null or JsonValueKind.Undefined:
                return (null, null);
            case JsonValueKind.String:
                return (null, Truncate(error.GetString()));
            case JsonValueKind.Object when error.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.Array:
                {
                    var parts = new List<string>();
                    string? type = null;
                    foreach (var item in detail.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.Object)
                        {
                            continue;
                        }

                        TryString(item, "msg", out var msg);
                        type ??= TryString(item, "type", out var t) ? t : null;
                        var loc = item.TryGetProperty("loc", out var l) && l.ValueKind == JsonValueKind.Array
                            ? string.Join('.', l.EnumerateArray().Select(x => x.ToString()))
                            : null;
                        parts.Add(loc is null ? msg ?? "" : $"{msg} ({loc})");
                    }

                    return (type, Truncate(string.Join("; ", parts)));
                }

            case JsonValueKind.Object:
                {
                    TryString(error, "name", out var name);
                    TryString(error, "message", out var message);
                    return (name, Truncate(message ?? name ?? error.GetRawText()));
                }

            default:
                return (null, Truncate(error.GetRawText()));
        }
    }

    /// <summary>The <c>message</c> of an upstream error body <c>{message, path, requestId, statusCode, timestamp}</c>.</summary>
    public static string? ReadErrorMessage(ReadOnlySpan<byte> utf8Json)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (TryString(root, "message", out var message) && message is not null)
                {
                    return Truncate(message);
                }

                if (root.TryGetProperty("message", out var messages) && messages.ValueKind == JsonValueKind.Array)
                {
                    return Truncate(string.Join("; ", messages.EnumerateArray().Select(m => m.ToString())));
                }
            }

            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Truncate(string? text) =>
        text is { Length: > MaxMessageLength } ? text[..MaxMessageLength] + "…" : text;

    private static bool TryString(JsonElement obj, string name, out string? value)
    {
        value = obj.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        return value is not null;
    }

    private static double? TryNumber(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var p) ? p.ValueKind switch
        {
            JsonValueKind.Number => p.GetDouble(),
            JsonValueKind.String when double.TryParse(p.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
            _ => null,
        } : null;
}

/// <summary>The finished video as the upstream describes it.</summary>
public sealed record UpstreamVideo(string Url, string? ContentType, string? FileName, long? FileSize);
