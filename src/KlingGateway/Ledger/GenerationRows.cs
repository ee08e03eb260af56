using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using KlingGateway.Generations;
using static KlingGateway.Ledger.LedgerValues;

namespace KlingGateway.Ledger;

/// <summary>
/// A generation as a row of the <c>generations</c> table: its columns, the insert and update statements, their
/// parameters, and the generation read back from a row. Every statement that reads or writes a whole generation uses these.
/// </summary>
internal static class GenerationRows
{
    public const string Columns = """
        id, upstream_id, model, route_family, status, upstream_status,
        video_url, video_content_type, video_file_name, video_file_size,
        error_code, error_message, credits_used, tokens_used, warnings,
        client_request_id, external_task_id, request_summary,
        created_at, updated_at, completed_at, refreshed_at,
        owner_client, owner_user, video_seconds, cost_micros, refunded,
        upstream_request_id, billing,
        version, next_refresh_at, refresh_failures, deadline_passed_at,
        video_state, video_attempts, video_next_attempt_at, video_key, video_stored_size,
        video_stored_type, video_sha256, video_stored_at, video_error,
        webhook_url
        """;

    public const string SelectColumns = "SELECT " + Columns + "\nFROM generations";

    public const string InsertSql = "INSERT INTO generations (" + Columns + """
        )
        VALUES (
            @id, @upstream_id, @model, @route_family, @status, @upstream_status,
            @video_url, @video_content_type, @video_file_name, @video_file_size,
            @error_code, @error_message, @credits_used, @tokens_used, @warnings,
            @client_request_id, @external_task_id, @request_summary,
            @created_at, @updated_at, @completed_at, @refreshed_at,
            @owner_client, @owner_user, @video_seconds, @cost_micros, @refunded,
            @upstream_request_id, @billing,
            @version, @next_refresh_at, @refresh_failures, @deadline_passed_at,
            @video_state, @video_attempts, @video_next_attempt_at, @video_key, @video_stored_size,
            @video_stored_type, @video_sha256, @video_stored_at, @video_error,
            @webhook_url);
        """;

    // Both statuses that mean "the upstream may still be working on it".
    public const string Unfinished = "status IN ('queued', 'processing')";

    // What a change may write: what the upstream said, the refund, and the lifecycle's own columns. What the create
    // fixed (model, owner, price, request, created_at) stays as inserted.
    private const string ChangeAssignments = """
        UPDATE generations SET
            upstream_id = @upstream_id, status = @status, upstream_status = @upstream_status,
            video_url = @video_url, video_content_type = @video_content_type,
            video_file_name = @video_file_name, video_file_size = @video_file_size,
            error_code = @error_code, error_message = @error_message,
            credits_used = @credits_used, tokens_used = @tokens_used,
            updated_at = @updated_at, completed_at = @completed_at, refreshed_at = @refreshed_at,
            refunded = @refunded, billing = @billing,
            next_refresh_at = @next_refresh_at, refresh_failures = @refresh_failures, deadline_passed_at = @deadline_passed_at,
            video_state = @video_state, video_attempts = @video_attempts, video_next_attempt_at = @video_next_attempt_at,
            video_key = @video_key, video_stored_size = @video_stored_size, video_stored_type = @video_stored_type,
            video_sha256 = @video_sha256, video_stored_at = @video_stored_at, video_error = @video_error,
            version = version + @version_step
        WHERE id = @id
        """;

    public const string UpdateSql = ChangeAssignments + "\nRETURNING version;";

    public const string UpdateIfVersionSql = ChangeAssignments + " AND version = @expected_version\nRETURNING version;";

    /// <summary>Every column, for the insert.</summary>
    public static void AddParameters(DbCommand command, Generation generation)
    {
        AddOutcomeParameters(command, generation);
        Add(command, "@model", generation.Model);
        Add(command, "@route_family", generation.RouteFamily);
        Add(command, "@warnings", JsonSerializer.Serialize(generation.Warnings, LedgerJsonContext.Default.IReadOnlyListGenerationWarning));
        Add(command, "@client_request_id", generation.ClientRequestId);
        Add(command, "@external_task_id", generation.ExternalTaskId);
        Add(command, "@request_summary", generation.RequestSummary);
        Add(command, "@created_at", FormatTimestamp(generation.CreatedAt));
        Add(command, "@owner_client", generation.OwnerClient);
        Add(command, "@owner_user", generation.OwnerUser);
        Add(command, "@video_seconds", generation.VideoSeconds);
        Add(command, "@cost_micros", ToMicros(generation.CostUsd));
        Add(command, "@upstream_request_id", generation.UpstreamRequestId);
        Add(command, "@version", generation.Version);
        Add(command, "@webhook_url", generation.WebhookUrl);
    }

    /// <summary>The id and the columns an update may change: what the upstream said, and whether the cost was refunded.</summary>
    public static void AddOutcomeParameters(DbCommand command, Generation generation)
    {
        ArgumentException.ThrowIfNullOrEmpty(generation.Id);

        Add(command, "@id", generation.Id);
        Add(command, "@upstream_id", generation.UpstreamId);
        Add(command, "@status", generation.Status.ToApiString());
        Add(command, "@upstream_status", generation.UpstreamStatus);
        Add(command, "@video_url", generation.Video?.Url);
        Add(command, "@video_content_type", generation.Video?.ContentType);
        Add(command, "@video_file_name", generation.Video?.FileName);
        Add(command, "@video_file_size", generation.Video?.FileSize);
        Add(command, "@error_code", generation.Error?.Code);
        Add(command, "@error_message", generation.Error?.Message);
        Add(command, "@credits_used", generation.Usage?.CreditsUsed);
        Add(command, "@tokens_used", generation.Usage?.TokensUsed);
        Add(command, "@updated_at", FormatTimestamp(generation.UpdatedAt));
        Add(command, "@completed_at", FormatTimestamp(generation.CompletedAt));
        Add(command, "@refreshed_at", FormatTimestamp(generation.RefreshedAt));
        Add(command, "@refunded", generation.Refunded ? 1 : 0);
        Add(command, "@billing", generation.Billing?.ToApiString());
        Add(command, "@next_refresh_at", FormatTimestamp(generation.NextRefreshAt));
        Add(command, "@refresh_failures", generation.RefreshFailures);
        Add(command, "@deadline_passed_at", FormatTimestamp(generation.DeadlinePassedAt));
        var kept = generation.Kept;
        Add(command, "@video_state", kept is null ? null : KeptStateText(kept.State));
        Add(command, "@video_attempts", kept?.Attempts ?? 0);
        Add(command, "@video_next_attempt_at", FormatTimestamp(kept?.NextAttemptAt));
        Add(command, "@video_key", kept?.Key);
        Add(command, "@video_stored_size", kept?.Size);
        Add(command, "@video_stored_type", kept?.ContentType);
        Add(command, "@video_sha256", kept?.Sha256);
        Add(command, "@video_stored_at", FormatTimestamp(kept?.StoredAt));
        Add(command, "@video_error", kept?.Error);
    }

    private static string KeptStateText(KeptVideoState state) => state switch
    {
        KeptVideoState.Pending => "pending",
        KeptVideoState.Stored => "stored",
        KeptVideoState.Failed => "failed",
        KeptVideoState.Expired => "expired",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    private static KeptVideoState ParseKeptState(string text) => text switch
    {
        "pending" => KeptVideoState.Pending,
        "stored" => KeptVideoState.Stored,
        "failed" => KeptVideoState.Failed,
        "expired" => KeptVideoState.Expired,
        _ => throw new InvalidDataException($"The ledger holds an unknown video state '{text}'."),
    };

    /// <summary>Every generation the reader returns, each row read as <see cref="Read"/> reads it.</summary>
    public static async Task<IReadOnlyList<Generation>> ReadAllAsync(DbDataReader reader, CancellationToken cancellationToken)
    {
        var found = new List<Generation>();
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(Read(reader));
        }

        return found;
    }

    /// <summary>The generation in the reader's current row, from <see cref="Columns"/>.</summary>
    public static Generation Read(DbDataReader reader)
    {
        var statusText = reader.GetString(4);
        if (!StatusMapper.TryParseApiString(statusText, out var status))
        {
            throw new InvalidDataException($"The ledger holds an unknown status '{statusText}'.");
        }

        var videoUrl = GetStringOrNull(reader, 6);
        var errorCode = GetStringOrNull(reader, 10);
        var creditsUsed = GetDoubleOrNull(reader, 12);
        var tokensUsed = GetDoubleOrNull(reader, 13);

        return new Generation
        {
            Id = reader.GetString(0),
            UpstreamId = GetStringOrNull(reader, 1),
            Model = reader.GetString(2),
            RouteFamily = reader.GetString(3),
            Status = status,
            UpstreamStatus = GetStringOrNull(reader, 5),
            Video = videoUrl is null
                ? null
                : new GenerationVideo(
                    videoUrl, GetStringOrNull(reader, 7), GetStringOrNull(reader, 8),
                    reader.IsDBNull(9) ? null : reader.GetInt64(9)),
            Error = errorCode is null ? null : new GenerationError(errorCode, GetStringOrNull(reader, 11) ?? string.Empty),
            Usage = creditsUsed is null && tokensUsed is null ? null : new GenerationUsage(creditsUsed, tokensUsed),
            Warnings = JsonSerializer.Deserialize(reader.GetString(14), LedgerJsonContext.Default.IReadOnlyListGenerationWarning) ?? [],
            ClientRequestId = GetStringOrNull(reader, 15),
            ExternalTaskId = GetStringOrNull(reader, 16),
            RequestSummary = reader.GetString(17),
            CreatedAt = ParseTimestamp(reader.GetString(18)),
            UpdatedAt = ParseTimestamp(reader.GetString(19)),
            CompletedAt = reader.IsDBNull(20) ? null : ParseTimestamp(reader.GetString(20)),
            RefreshedAt = reader.IsDBNull(21) ? null : ParseTimestamp(reader.GetString(21)),
            OwnerClient = reader.GetString(22),
            OwnerUser = GetStringOrNull(reader, 23),
            VideoSeconds = Convert.ToInt32(reader.GetValue(24), CultureInfo.InvariantCulture),
            CostUsd = Convert.ToInt64(reader.GetValue(25), CultureInfo.InvariantCulture) / MicrosPerUsd,
            Refunded = Convert.ToInt64(reader.GetValue(26), CultureInfo.InvariantCulture) != 0,
            UpstreamRequestId = GetStringOrNull(reader, 27),
            Billing = GenerationBillingText.Parse(GetStringOrNull(reader, 28)),
            Version = Convert.ToInt64(reader.GetValue(29), CultureInfo.InvariantCulture),
            NextRefreshAt = GetTimestampOrNull(reader, 30),
            RefreshFailures = Convert.ToInt32(reader.GetValue(31), CultureInfo.InvariantCulture),
            DeadlinePassedAt = GetTimestampOrNull(reader, 32),
            Kept = reader.IsDBNull(33) ? null : new KeptVideo(
                ParseKeptState(reader.GetString(33)),
                Convert.ToInt32(reader.GetValue(34), CultureInfo.InvariantCulture),
                GetTimestampOrNull(reader, 35),
                GetStringOrNull(reader, 36),
                reader.IsDBNull(37) ? null : Convert.ToInt64(reader.GetValue(37), CultureInfo.InvariantCulture),
                GetStringOrNull(reader, 38),
                GetStringOrNull(reader, 39),
                GetTimestampOrNull(reader, 40),
                GetStringOrNull(reader, 41)),
            WebhookUrl = GetStringOrNull(reader, 42),
        };
    }
}

/// <summary>Source-generated JSON for the columns the ledger stores as JSON text.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IReadOnlyList<GenerationWarning>))]
[JsonSerializable(typeof(StoredProblem))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;
