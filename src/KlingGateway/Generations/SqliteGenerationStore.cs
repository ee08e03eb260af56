using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

/// <summary>
/// The ledger in one SQLite file, with plain parameterized SQL.
/// </summary>
/// <remarks>
/// A connection per operation (Microsoft.Data.Sqlite pools them). WAL lets readers run beside the one writer;
/// concurrent writers wait on SQLite's own lock through the busy timeout rather than a process-wide lock here.
/// Timestamps are stored as fixed-width ISO-8601 UTC text with all seven fractional digits, so text order is time
/// order and a value reads back to the exact tick (the cursor compares ticks).
/// </remarks>
public sealed partial class SqliteGenerationStore : IGenerationStore, IDisposable
{
    // How long a statement waits for another connection's write lock before failing.
    private const int BusyTimeoutMilliseconds = 5000;

    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    /// <summary>
    /// The schema, one step per version, applied in order from the file's <c>PRAGMA user_version</c>. A change is a new
    /// step at the end; a shipped step is never edited.
    /// </summary>
    private static readonly string[] Migrations =
    [
        // Version 1.
        """
        CREATE TABLE generations (
            id                 TEXT    NOT NULL PRIMARY KEY,
            upstream_id        TEXT,
            model              TEXT    NOT NULL,
            route_family       TEXT    NOT NULL,
            status             TEXT    NOT NULL CHECK (status IN ('queued', 'processing', 'succeeded', 'failed')),
            upstream_status    TEXT,
            video_url          TEXT,
            video_content_type TEXT,
            video_file_name    TEXT,
            video_file_size    INTEGER,
            error_code         TEXT,
            error_message      TEXT,
            credits_used       REAL,
            tokens_used        REAL,
            warnings           TEXT    NOT NULL DEFAULT '[]',
            client_request_id  TEXT,
            external_task_id   TEXT,
            request_summary    TEXT    NOT NULL,
            created_at         TEXT    NOT NULL,
            updated_at         TEXT    NOT NULL,
            completed_at       TEXT,
            refreshed_at       TEXT
        ) STRICT;
        CREATE INDEX ix_generations_created ON generations (created_at DESC, id DESC);
        CREATE INDEX ix_generations_status ON generations (status, created_at DESC, id DESC);
        CREATE INDEX ix_generations_model ON generations (model, created_at DESC, id DESC);
        CREATE INDEX ix_generations_upstream_id ON generations (upstream_id);
        """,
    ];

    private const string SelectColumns = """
        SELECT id, upstream_id, model, route_family, status, upstream_status,
               video_url, video_content_type, video_file_name, video_file_size,
               error_code, error_message, credits_used, tokens_used, warnings,
               client_request_id, external_task_id, request_summary,
               created_at, updated_at, completed_at, refreshed_at
        FROM generations
        """;

    private readonly string _connectionString;

    // Readiness opens the file afresh: a pooled connection keeps a deleted or unmounted file readable.
    private readonly string _probeConnectionString;
    private readonly ILogger<SqliteGenerationStore> _logger;

    public SqliteGenerationStore(
        IOptions<LedgerOptions> options, IHostEnvironment environment, ILogger<SqliteGenerationStore> logger)
        : this(options.Value.ResolveFullPath(environment.ContentRootPath), logger)
    {
    }

    internal SqliteGenerationStore(string fullPath, ILogger<SqliteGenerationStore> logger)
    {
        FullPath = fullPath;
        _logger = logger;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
        }.ToString();
        _probeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        }.ToString();
    }

    /// <summary>The absolute path of the SQLite file.</summary>
    public string FullPath { get; }

    /// <summary>The schema version this build creates and understands.</summary>
    public static int SchemaVersion => Migrations.Length;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(FullPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await using var connection = await OpenAsync(cancellationToken);

        // WAL is a property of the file: set once, it stays for every later connection.
        await using (var wal = connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            var mode = (string?)await wal.ExecuteScalarAsync(cancellationToken);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                LogJournalModeNotWal(_logger, FullPath, mode);
            }
        }

        // BEGIN IMMEDIATE takes the write lock first, so two processes starting on one file migrate one after the other.
        await using var transaction = connection.BeginTransaction(deferred: false);
        var version = await ReadUserVersionAsync(connection, transaction, cancellationToken);
        if (version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"The ledger at {FullPath} has schema version {version}, newer than this build knows ({SchemaVersion}). " +
                "Run a newer gateway, or point Ledger:Path at another file.");
        }

        for (var step = version; step < SchemaVersion; step++)
        {
            await using var migrate = connection.CreateCommand();
            migrate.Transaction = transaction;
            // PRAGMA takes no parameters; the value is this build's own integer.
            migrate.CommandText = Migrations[step]
                + string.Create(CultureInfo.InvariantCulture, $"\nPRAGMA user_version = {step + 1};");
            await migrate.ExecuteNonQueryAsync(cancellationToken);
            LogMigrationApplied(_logger, FullPath, step + 1);
        }

        await transaction.CommitAsync(cancellationToken);
        LogLedgerReady(_logger, FullPath, SchemaVersion);
    }

    public async Task InsertAsync(Generation generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO generations (
                id, upstream_id, model, route_family, status, upstream_status,
                video_url, video_content_type, video_file_name, video_file_size,
                error_code, error_message, credits_used, tokens_used, warnings,
                client_request_id, external_task_id, request_summary,
                created_at, updated_at, completed_at, refreshed_at)
            VALUES (
                $id, $upstream_id, $model, $route_family, $status, $upstream_status,
                $video_url, $video_content_type, $video_file_name, $video_file_size,
                $error_code, $error_message, $credits_used, $tokens_used, $warnings,
                $client_request_id, $external_task_id, $request_summary,
                $created_at, $updated_at, $completed_at, $refreshed_at);
            """;
        AddParameters(command, generation);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task UpdateAsync(Generation generation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generation);

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // created_at is left alone: it orders the list and keys the cursor, so moving it could repeat or skip rows.
        command.CommandText = """
            UPDATE generations SET
                upstream_id = $upstream_id, model = $model, route_family = $route_family,
                status = $status, upstream_status = $upstream_status,
                video_url = $video_url, video_content_type = $video_content_type,
                video_file_name = $video_file_name, video_file_size = $video_file_size,
                error_code = $error_code, error_message = $error_message,
                credits_used = $credits_used, tokens_used = $tokens_used, warnings = $warnings,
                client_request_id = $client_request_id, external_task_id = $external_task_id,
                request_summary = $request_summary,
                updated_at = $updated_at, completed_at = $completed_at, refreshed_at = $refreshed_at
            WHERE id = $id;
            """;
        AddParameters(command, generation);
        var rows = await command.ExecuteNonQueryAsync(cancellationToken);
        if (rows == 0)
        {
            throw new KeyNotFoundException($"The ledger has no generation {generation.Id} to update.");
        }
    }

    public async Task<Generation?> FindAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = SelectColumns + "\nWHERE id = $id;";
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadGeneration(reader) : null;
    }

    public async Task<GenerationPage> ListAsync(GenerationQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.Limit, GenerationQuery.MaxLimit);

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();

        // Only fixed fragments are joined; every value goes in as a parameter.
        var sql = new StringBuilder(SelectColumns);
        var conditions = new List<string>(3);
        if (query.Status is { } status)
        {
            conditions.Add("status = $status");
            command.Parameters.AddWithValue("$status", status.ToApiString());
        }

        if (query.Model is not null)
        {
            conditions.Add("model = $model");
            command.Parameters.AddWithValue("$model", query.Model);
        }

        if (query.After is { } after)
        {
            // Row-value comparison: strictly after the cursor in (created_at desc, id desc) order, index-friendly.
            conditions.Add("(created_at, id) < ($after_created_at, $after_id)");
            command.Parameters.AddWithValue("$after_created_at", FormatTimestamp(after.CreatedAt));
            command.Parameters.AddWithValue("$after_id", after.Id);
        }

        if (conditions.Count > 0)
        {
            sql.Append("\nWHERE ").AppendJoin(" AND ", conditions);
        }

        // One row more than asked tells whether there is a next page without a second query.
        sql.Append("\nORDER BY created_at DESC, id DESC\nLIMIT $limit;");
        command.Parameters.AddWithValue("$limit", query.Limit + 1);
        command.CommandText = sql.ToString();

        var items = new List<Generation>(query.Limit + 1);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(ReadGeneration(reader));
            }
        }

        if (items.Count <= query.Limit)
        {
            return new GenerationPage(items, Next: null);
        }

        items.RemoveAt(items.Count - 1);
        var last = items[^1];
        return new GenerationPage(items, new GenerationCursor(last.CreatedAt, last.Id));
    }

    public async Task<bool> IsReachableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new SqliteConnection(_probeConnectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            // Reads the table, not just the file: a missing or unmigrated ledger is not ready.
            command.CommandText = "SELECT 1 FROM generations LIMIT 1;";
            await command.ExecuteScalarAsync(cancellationToken);
            return true;
        }
        catch (SqliteException exception)
        {
            LogUnreachable(_logger, FullPath, exception);
            return false;
        }
    }

    /// <summary>Closes the pooled connections to the file (the last close also checkpoints the WAL).</summary>
    public void Dispose()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            await using var pragmas = connection.CreateCommand();
            // Per-connection settings. NORMAL is durable across process crashes in WAL mode; only a power loss can
            // undo the last commits.
            pragmas.CommandText = string.Create(
                CultureInfo.InvariantCulture,
                $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL;");
            await pragmas.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task<int> ReadUserVersionAsync(
        SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "PRAGMA user_version;";
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return Convert.ToInt32(value, CultureInfo.InvariantCulture);
    }

    private static void AddParameters(SqliteCommand command, Generation generation)
    {
        ArgumentException.ThrowIfNullOrEmpty(generation.Id);

        var parameters = command.Parameters;
        parameters.AddWithValue("$id", generation.Id);
        parameters.AddWithValue("$upstream_id", DbValue(generation.UpstreamId));
        parameters.AddWithValue("$model", generation.Model);
        parameters.AddWithValue("$route_family", generation.RouteFamily);
        parameters.AddWithValue("$status", generation.Status.ToApiString());
        parameters.AddWithValue("$upstream_status", DbValue(generation.UpstreamStatus));
        parameters.AddWithValue("$video_url", DbValue(generation.Video?.Url));
        parameters.AddWithValue("$video_content_type", DbValue(generation.Video?.ContentType));
        parameters.AddWithValue("$video_file_name", DbValue(generation.Video?.FileName));
        parameters.AddWithValue("$video_file_size", DbValue(generation.Video?.FileSize));
        parameters.AddWithValue("$error_code", DbValue(generation.Error?.Code));
        parameters.AddWithValue("$error_message", DbValue(generation.Error?.Message));
        parameters.AddWithValue("$credits_used", DbValue(generation.Usage?.CreditsUsed));
        parameters.AddWithValue("$tokens_used", DbValue(generation.Usage?.TokensUsed));
        parameters.AddWithValue(
            "$warnings", JsonSerializer.Serialize(generation.Warnings, LedgerJsonContext.Default.IReadOnlyListGenerationWarning));
        parameters.AddWithValue("$client_request_id", DbValue(generation.ClientRequestId));
        parameters.AddWithValue("$external_task_id", DbValue(generation.ExternalTaskId));
        parameters.AddWithValue("$request_summary", generation.RequestSummary);
        parameters.AddWithValue("$created_at", FormatTimestamp(generation.CreatedAt));
        parameters.AddWithValue("$updated_at", FormatTimestamp(generation.UpdatedAt));
        parameters.AddWithValue("$completed_at", DbValue(FormatTimestamp(generation.CompletedAt)));
        parameters.AddWithValue("$refreshed_at", DbValue(FormatTimestamp(generation.RefreshedAt)));
    }

    private static object DbValue(object? value) => value ?? DBNull.Value;

    private static Generation ReadGeneration(SqliteDataReader reader)
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
        };
    }

    private static string? GetStringOrNull(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static double? GetDoubleOrNull(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    private static string FormatTimestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    private static string? FormatTimestamp(DateTimeOffset? value) =>
        value is { } time ? FormatTimestamp(time) : null;

    private static DateTimeOffset ParseTimestamp(string text) =>
        DateTimeOffset.ParseExact(
            text, TimestampFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information,
        Message = "Ledger migrated {LedgerPath} to schema version {SchemaVersion}")]
    private static partial void LogMigrationApplied(ILogger logger, string ledgerPath, int schemaVersion);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information,
        Message = "Ledger ready at {LedgerPath}, schema version {SchemaVersion}")]
    private static partial void LogLedgerReady(ILogger logger, string ledgerPath, int schemaVersion);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} could not switch to WAL; journal mode is {JournalMode}")]
    private static partial void LogJournalModeNotWal(ILogger logger, string ledgerPath, string? journalMode);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "Ledger at {LedgerPath} is not reachable")]
    private static partial void LogUnreachable(ILogger logger, string ledgerPath, Exception exception);
}

/// <summary>Source-generated JSON for the columns the ledger stores as JSON text.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IReadOnlyList<GenerationWarning>))]
internal sealed partial class LedgerJsonContext : JsonSerializerContext;
