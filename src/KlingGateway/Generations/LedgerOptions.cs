using KlingGateway.Ledger;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace KlingGateway.Generations;

/// <summary>Where the ledger lives. Configuration section <c>Ledger</c>.</summary>
public sealed class LedgerOptions
{
    public const string SectionName = "Ledger";

    /// <summary>
    /// The SQLite file (<c>Ledger:Path</c>, environment variable <c>Ledger__Path</c>). A relative path is relative to
    /// the content root; the directory is created at start.
    /// </summary>
    public string Path { get; set; } = "data/kling-gateway.db";

    /// <summary>
    /// Where the ledger lives (<c>Ledger:Provider</c>): <c>sqlite</c> (the default, one file, one replica) or
    /// <c>postgres</c> (shared by every replica using the same <see cref="ConnectionString"/>).
    /// </summary>
    public string Provider { get; set; } = SqliteProvider;

    /// <summary>The PostgreSQL connection string (<c>Ledger:ConnectionString</c>, <c>Ledger__ConnectionString</c>); never logged.</summary>
    public string? ConnectionString { get; set; }

    public const string SqliteProvider = "sqlite";
    public const string PostgresProvider = "postgres";

    public bool UsesPostgres => string.Equals(Provider?.Trim(), PostgresProvider, StringComparison.OrdinalIgnoreCase);

    /// <summary>The absolute file path: <see cref="Path"/> resolved against <paramref name="contentRootPath"/> when relative.</summary>
    public string ResolveFullPath(string contentRootPath) =>
        System.IO.Path.GetFullPath(System.IO.Path.Combine(contentRootPath, Path));
}

/// <summary>Refuses to start with a ledger path that cannot be a durable file.</summary>
public sealed class LedgerOptionsValidator : IValidateOptions<LedgerOptions>
{
    public ValidateOptionsResult Validate(string? name, LedgerOptions options)
    {
        if (!options.UsesPostgres && !string.Equals(options.Provider?.Trim(), LedgerOptions.SqliteProvider, StringComparison.OrdinalIgnoreCase))
        {
            return ValidateOptionsResult.Fail(
                $"Ledger:Provider '{options.Provider}' is not known. Set Ledger:Provider (or Ledger__Provider) to sqlite or postgres.");
        }

        if (options.UsesPostgres)
        {
            if (string.IsNullOrWhiteSpace(options.ConnectionString))
            {
                return ValidateOptionsResult.Fail(
                    "Ledger:Provider is postgres but Ledger:ConnectionString is empty. Set it (or the environment variable " +
                    "Ledger__ConnectionString), for example Host=db;Database=kling;Username=kling;Password=...");
            }

            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(options.ConnectionString);
            }
            catch (ArgumentException)
            {
                // The string itself is not repeated: it may hold a password.
                return ValidateOptionsResult.Fail(
                    "Ledger:ConnectionString is not a valid PostgreSQL connection string (keywords such as Host, Database, " +
                    "Username, Password separated by semicolons). Set Ledger:ConnectionString or Ledger__ConnectionString.");
            }

            return ValidateOptionsResult.Success;
        }

        if (string.IsNullOrWhiteSpace(options.Path))
        {
            return ValidateOptionsResult.Fail(
                "Ledger:Path is empty. Set it (or the environment variable Ledger__Path) to the SQLite file " +
                "the gateway keeps its generations in, for example data/kling-gateway.db.");
        }

        // An in-memory database would vanish between connections and on restart, losing the id mapping of
        // generations that may already be billed.
        if (options.Path.Trim().StartsWith(":memory:", StringComparison.OrdinalIgnoreCase)
            || options.Path.Contains("mode=memory", StringComparison.OrdinalIgnoreCase))
        {
            return ValidateOptionsResult.Fail(
                "Ledger:Path must be a file path; an in-memory database would lose every generation. " +
                "Set Ledger:Path (or Ledger__Path) to a file such as data/kling-gateway.db.");
        }

        if (options.Path.IndexOfAny(System.IO.Path.GetInvalidPathChars()) >= 0)
        {
            return ValidateOptionsResult.Fail(
                $"Ledger:Path '{options.Path}' contains characters that are not valid in a path. " +
                "Set Ledger:Path (or Ledger__Path) to a file such as data/kling-gateway.db.");
        }

        return ValidateOptionsResult.Success;
    }
}

/// <summary>Registers the ledger.</summary>
public static class LedgerServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="LedgerOptions"/> from the <c>Ledger</c> section, validated on start, and registers the
    /// configured store (<see cref="SqliteGenerationStore"/> or <see cref="PostgresGenerationStore"/>) as the singleton
    /// <see cref="IGenerationStore"/>, <see cref="ILedgerAccounting"/> and <see cref="ILedgerSweeps"/>. The host must call
    /// <see cref="IGenerationStore.InitializeAsync"/> before serving.
    /// </summary>
    public static IServiceCollection AddLedger(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<LedgerOptions>()
            .Bind(configuration.GetSection(LedgerOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LedgerOptions>, LedgerOptionsValidator>());
        // One instance behind both names, so the host disposes it once (closing its pooled connections).
        services.TryAddSingleton<SqliteGenerationStore>();
        services.TryAddSingleton<PostgresGenerationStore>();
        // Chosen when first resolved, from the validated options, so every configuration source has been read.
        services.TryAddSingleton<SqlLedgerStore>(provider => provider.GetRequiredService<IOptions<LedgerOptions>>().Value.UsesPostgres
            ? provider.GetRequiredService<PostgresGenerationStore>()
            : provider.GetRequiredService<SqliteGenerationStore>());
        services.TryAddSingleton<IGenerationStore>(provider => provider.GetRequiredService<SqlLedgerStore>());
        services.TryAddSingleton<ILedgerAccounting>(provider => provider.GetRequiredService<SqlLedgerStore>());
        services.TryAddSingleton<ILedgerSweeps>(provider => provider.GetRequiredService<SqlLedgerStore>());
        return services;
    }
}
