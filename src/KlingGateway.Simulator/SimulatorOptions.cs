namespace KlingGateway.Simulator;

/// <summary>How the simulated AI/ML API behaves when no request asks for something else.</summary>
public sealed class SimulatorOptions
{
    /// <summary>The key accepted as <c>Authorization: Bearer &lt;key&gt;</c>.</summary>
    public string ApiKey { get; set; } = "simulator-key";

    /// <summary>When set, the accepted key is read from this file (trimmed) instead of <see cref="ApiKey"/>.</summary>
    public string? ApiKeyFile { get; set; }

    /// <summary>How long a new generation reports <c>queued</c>.</summary>
    public TimeSpan QueuedFor { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long it then reports <c>generating</c> before it ends.</summary>
    public TimeSpan GeneratingFor { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>
    /// Instant-answer mode, for benchmarks: generations end at once unless their directives say otherwise
    /// (<c>[sim:queued=3600]</c> keeps one in progress), and upstream requests are not recorded, so the
    /// simulator costs as little as it can per request. Overrides <see cref="QueuedFor"/> and
    /// <see cref="GeneratingFor"/>. Off by default.
    /// </summary>
    public bool Instant { get; set; }

    /// <summary>Base of the video links in fetch answers; by default the request's own <c>scheme://host</c>.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>The key to accept: the file's trimmed content when <see cref="ApiKeyFile"/> is set.</summary>
    internal string ResolveApiKey()
    {
        var key = ApiKeyFile is { Length: > 0 } file
            ? ReadKeyFile(file)
            : ApiKey.Trim();
        if (key.Length == 0)
        {
            throw new InvalidOperationException(
                "The simulator needs a non-empty API key: set Simulator:ApiKey, or Simulator:ApiKeyFile to a file holding one.");
        }

        return key;
    }

    private static string ReadKeyFile(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Simulator:ApiKeyFile '{path}' cannot be read: {ex.Message}", ex);
        }
    }
}
