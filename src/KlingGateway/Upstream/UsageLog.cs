using System.Globalization;
using System.Text.Json;

namespace KlingGateway.Upstream;

/// <summary>
/// One page of the upstream's usage log, <c>GET /v2/logs</c>: one row per request made with the gateway's key, newest
/// first, with its outcome, its cost and the <c>X-Client-Request-Id</c> it was sent with (docs/upstream.md, "Usage log").
/// </summary>
/// <param name="Rows">The page's rows, as sent (newest first).</param>
/// <param name="HasMore">Whether another page follows (<c>pagination.has_more</c>).</param>
public sealed record UsageLogPage(IReadOnlyList<UsageLogRow> Rows, bool HasMore)
{
    /// <summary>The most rows the log answers per page.</summary>
    public const int MaxLimit = 100;

    /// <summary>
    /// Reads a page; null when the answer is not <c>{data: [...], pagination: {has_more}}</c>. The rows themselves are
    /// read leniently: a field missing or of another type reads as absent, never as a fault.
    /// </summary>
    public static UsageLogPage? Read(ReadOnlySpan<byte> utf8Json)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array
                || !root.TryGetProperty("pagination", out var pagination) || pagination.ValueKind != JsonValueKind.Object
                || !pagination.TryGetProperty("has_more", out var hasMore) || hasMore.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                return null;
            }

            var rows = new List<UsageLogRow>(data.GetArrayLength());
            foreach (var item in data.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.Object)
                {
                    rows.Add(UsageLogRow.Read(item));
                }
            }

            return new UsageLogPage(rows, hasMore.GetBoolean());
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A time as the log's <c>start</c> and <c>end</c> take it: ISO-8601 in UTC, to the millisecond.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>One request in the usage log.</summary>
/// <param name="Status"><c>succeeded</c> or <c>failed</c>; a failed request is billed nothing (its hold is rolled back).</param>
/// <param name="CostUsd"><c>cost.usd</c>, 0 when absent.</param>
/// <param name="CostCredits"><c>cost.credits</c>, 0 when absent.</param>
/// <param name="InferenceId">The upstream's inference id, for an operator asking the upstream about the request.</param>
/// <param name="ClientRequestId">The <c>X-Client-Request-Id</c> the request was sent with; null when none was.</param>
public sealed record UsageLogRow(string? Status, decimal CostUsd, long CostCredits, string? InferenceId, string? ClientRequestId)
{
    /// <summary>Whether the request was billed: it succeeded, or something was charged for it.</summary>
    public bool Billed => Status == "succeeded" || CostUsd > 0 || CostCredits > 0;

    /// <summary>Whether the log says the request failed and was charged nothing, which is final.</summary>
    public bool Failed => Status == "failed" && CostUsd <= 0 && CostCredits <= 0;

    internal static UsageLogRow Read(JsonElement row)
    {
        decimal usd = 0;
        long credits = 0;
        if (row.TryGetProperty("cost", out var cost) && cost.ValueKind == JsonValueKind.Object)
        {
            if (cost.TryGetProperty("usd", out var u) && u.ValueKind == JsonValueKind.Number && u.TryGetDecimal(out var parsedUsd))
            {
                usd = parsedUsd;
            }

            if (cost.TryGetProperty("credits", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetDouble(out var parsedCredits)
                && double.IsFinite(parsedCredits))
            {
                credits = (long)Math.Clamp(parsedCredits, long.MinValue, long.MaxValue);
            }
        }

        return new UsageLogRow(Text(row, "status"), usd, credits, Text(row, "inference_id"), Text(row, "client_request_id"));
    }

    private static string? Text(JsonElement row, string name) =>
        row.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
