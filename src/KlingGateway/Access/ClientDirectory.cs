using System.Security.Cryptography;
using System.Text;
using KlingGateway.Models;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace KlingGateway.Access;

/// <summary>A client as the gateway knows it now.</summary>
/// <param name="Name">The configured name.</param>
/// <param name="IsAdmin">Whether it has the <c>admin</c> role.</param>
/// <param name="Limits">Its effective limits (its own, else the defaults); 0 means no limit.</param>
public sealed record ClientEntry(string Name, bool IsAdmin, EffectiveLimits Limits);

/// <summary>Limits with the defaults applied. 0 means no limit.</summary>
public sealed record EffectiveLimits(int RequestsPerMinute, int MaxInFlight, int DailyVideoSeconds, decimal DailyBudgetUsd);

/// <summary>
/// Every client, found by key hash. Rebuilt whenever <c>Auth</c> configuration reloads (appsettings.json is watched)
/// or the optional <see cref="AuthOptions.ClientsFile"/> changes, so keys rotate without a restart. A change that does
/// not validate is logged and ignored: the previous clients stay in force.
/// </summary>
public sealed partial class ClientDirectory : IDisposable
{
    private readonly IOptionsMonitor<AuthOptions> _options;
    private readonly IHostEnvironment _environment;
    private readonly ILogger<ClientDirectory> _logger;
    private readonly IDisposable? _optionsSubscription;
    private readonly Lock _gate = new();
    private IConfigurationRoot? _file;
    private IDisposable? _fileSubscription;
    private string? _filePath;
    private Snapshot _current;

    public ClientDirectory(IOptionsMonitor<AuthOptions> options, IHostEnvironment environment, ILogger<ClientDirectory> logger)
    {
        _options = options;
        _environment = environment;
        _logger = logger;
        // At start an invalid clients file stops the host (the caller sees the exception); later ones are ignored.
        _current = Build(options.CurrentValue) ?? throw new OptionsValidationException(
            AuthOptions.Section, typeof(AuthOptions), [_lastFailure ?? "The clients file is not valid."]);
        _optionsSubscription = options.OnChange(_ => Reload());
    }

    private string? _lastFailure;

    /// <summary>The settings in force, with the clients file merged in.</summary>
    public AuthOptions Options => _current.Options;

    /// <summary>The client whose key hashes to a configured hash, or <see langword="null"/>.</summary>
    public ClientEntry? FindByKey(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 512)
        {
            return null;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        return _current.ByHash.TryGetValue(hash, out var client) ? client : null;
    }

    /// <summary>The named client, or one with the defaults' limits (anonymous callers, JWT users without a client entry).</summary>
    public ClientEntry Find(string name) =>
        _current.ByName.TryGetValue(name, out var client) ? client : new ClientEntry(name, false, _current.DefaultLimits);

    /// <summary>The price of one video second of a model, or 0 without a price table entry.</summary>
    public decimal PricePerSecond(ModelDefinition model) =>
        _current.Options.Prices.TryGetValue(model.Key, out var price) ? price : 0m;

    public void Dispose()
    {
        _optionsSubscription?.Dispose();
        _fileSubscription?.Dispose();
        (_file as IDisposable)?.Dispose();
    }

    private void Reload()
    {
        var next = Build(_options.CurrentValue);
        if (next is null)
        {
            LogReloadRejected(_logger, _lastFailure ?? "");
            return;
        }

        _current = next;
        LogReloaded(_logger, next.ByName.Count, next.ByHash.Count);
    }

    private Snapshot? Build(AuthOptions options)
    {
        lock (_gate)
        {
            var clients = new Dictionary<string, ClientOptions>(options.Clients, StringComparer.Ordinal);
            if (!string.IsNullOrWhiteSpace(options.ClientsFile))
            {
                foreach (var (name, client) in ReadClientsFile(options.ClientsFile))
                {
                    clients[name] = client;
                }
            }

            var failures = AuthOptionsValidator.ValidateClients(clients, options.Prices, "Auth:Clients (with Auth:ClientsFile)").ToList();
            if (failures.Count > 0)
            {
                _lastFailure = string.Join(" ", failures);
                return null;
            }

            var defaults = options.Defaults;
            var defaultLimits = new EffectiveLimits(
                defaults.RequestsPerMinute ?? 0, defaults.MaxInFlight ?? 0, defaults.DailyVideoSeconds ?? 0, defaults.DailyBudgetUsd ?? 0);
            var byName = new Dictionary<string, ClientEntry>(StringComparer.Ordinal);
            var byHash = new Dictionary<string, ClientEntry>(StringComparer.Ordinal);
            foreach (var (name, client) in clients)
            {
                var entry = new ClientEntry(
                    name,
                    client.Roles.Any(r => string.Equals(r, AuthOptionsValidator.AdminRole, StringComparison.OrdinalIgnoreCase)),
                    new EffectiveLimits(
                        client.RequestsPerMinute ?? defaultLimits.RequestsPerMinute,
                        client.MaxInFlight ?? defaultLimits.MaxInFlight,
                        client.DailyVideoSeconds ?? defaultLimits.DailyVideoSeconds,
                        client.DailyBudgetUsd ?? defaultLimits.DailyBudgetUsd));
                byName[name] = entry;
                foreach (var hash in client.KeyHashes)
                {
                    byHash[hash.Trim().ToLowerInvariant()] = entry;
                }
            }

            var merged = new AuthOptions
            {
                AllowAnonymous = options.AllowAnonymous,
                Clients = clients,
                ClientsFile = options.ClientsFile,
                Defaults = options.Defaults,
                Prices = options.Prices,
                InFlightExpiry = options.InFlightExpiry,
                Jwt = options.Jwt,
            };
            return new Snapshot(merged, byName, byHash, defaultLimits);
        }
    }

    private Dictionary<string, ClientOptions> ReadClientsFile(string configuredPath)
    {
        var path = Path.GetFullPath(Path.Combine(_environment.ContentRootPath, configuredPath));
        if (_filePath != path)
        {
            _fileSubscription?.Dispose();
            (_file as IDisposable)?.Dispose();
            var directory = Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(directory);
            _file = new ConfigurationBuilder()
                .SetBasePath(directory)
                .AddJsonFile(source =>
                {
                    source.Path = Path.GetFileName(path);
                    source.Optional = true;
                    source.ReloadOnChange = true;
                    // A file caught half-written must not take the process down; replace it atomically (write, then rename).
                    source.OnLoadException = context => context.Ignore = true;
                })
                .Build();
            _filePath = path;
            _fileSubscription = ChangeToken.OnChange(_file.GetReloadToken, Reload);
        }

        var clients = new Dictionary<string, ClientOptions>(StringComparer.Ordinal);
        _file!.GetSection("Auth:Clients").Bind(clients);
        return clients;
    }

    private sealed record Snapshot(
        AuthOptions Options,
        IReadOnlyDictionary<string, ClientEntry> ByName,
        IReadOnlyDictionary<string, ClientEntry> ByHash,
        EffectiveLimits DefaultLimits);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Information,
        Message = "Clients reloaded: {ClientCount} clients with {KeyCount} key hashes")]
    private static partial void LogReloaded(ILogger logger, int clientCount, int keyCount);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Error,
        Message = "Changed client settings were not applied, the previous clients stay in force: {Reason}")]
    private static partial void LogReloadRejected(ILogger logger, string reason);
}
