using Npgsql;

namespace KlingGateway.Tests.Generations;

/// <summary>
/// The PostgreSQL server the tests use: the connection string in <c>KLING_TEST_POSTGRES</c> (.ci/run installs,
/// starts and exports it). Each test gets a schema of its own, dropped afterwards.
/// </summary>
internal sealed class PostgresDatabase : IAsyncDisposable
{
    public const string Variable = "KLING_TEST_POSTGRES";

    private static readonly Lazy<string?> Unavailable = new(Probe);

    private PostgresDatabase(string schema, string connectionString)
    {
        Schema = schema;
        ConnectionString = connectionString;
    }

    public string Schema { get; }

    /// <summary>A connection string whose search path is this test's own schema.</summary>
    public string ConnectionString { get; }

    /// <summary>Why PostgreSQL tests cannot run here, or <see langword="null"/> when they can.</summary>
    public static string? WhyUnavailable => Unavailable.Value;

    /// <summary>A schema of its own, or <see langword="null"/> when PostgreSQL is not there (the test reports itself skipped).</summary>
    public static async Task<PostgresDatabase?> CreateIfAvailableAsync() => WhyUnavailable is null ? await CreateAsync() : null;

    public static async Task<PostgresDatabase> CreateAsync()
    {
        var schema = "t_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(Environment.GetEnvironmentVariable(Variable)))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE SCHEMA {schema};", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable(Variable)) { SearchPath = schema };
        return new PostgresDatabase(schema, builder.ConnectionString);
    }

    /// <summary>Runs one scalar query in this test's schema.</summary>
    public async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(Environment.GetEnvironmentVariable(Variable));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {Schema} CASCADE;", connection);
        await command.ExecuteNonQueryAsync();
    }

    private static string? Probe()
    {
        var connectionString = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return $"{Variable} is not set: no PostgreSQL server to test against (.ci/run installs and starts one).";
        }

        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 5 };
            using var connection = new NpgsqlConnection(builder.ConnectionString);
            connection.Open();
            return null;
        }
        catch (Exception exception) when (exception is NpgsqlException or ArgumentException or InvalidOperationException)
        {
            return $"The PostgreSQL server in {Variable} does not answer: {exception.Message}";
        }
    }
}

/// <summary>A fact that needs PostgreSQL: reported as skipped, with the reason, when there is none.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PostgresDatabase.WhyUnavailable is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A theory that needs PostgreSQL: reported as skipped, with the reason, when there is none.</summary>
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute()
    {
        if (PostgresDatabase.WhyUnavailable is { } reason)
        {
            Skip = reason;
        }
    }
}
