namespace KlingGateway.Generations;

/// <summary>How the gateway keeps its generations fresh. Section <c>Generations</c>.</summary>
public sealed class GenerationOptions
{
    public const string Section = "Generations";

    /// <summary>
    /// A status read refreshes from the upstream only when the last refresh is older than this; concurrent reads of
    /// one generation share one upstream fetch. A hundred pollers cost the upstream at most one fetch per interval.
    /// </summary>
    public TimeSpan StatusRefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Default page size of <c>GET /v1/generations</c>.</summary>
    public int DefaultPageSize { get; set; } = 20;

    /// <summary>Largest page size a caller may ask for.</summary>
    public int MaxPageSize { get; set; } = 100;
}
