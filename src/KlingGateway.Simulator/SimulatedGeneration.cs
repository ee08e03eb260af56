namespace KlingGateway.Simulator;

/// <summary>The two upstream route families (docs/upstream.md, "Routes"); each answers usage under its own key.</summary>
internal enum RouteFamily
{
    /// <summary><c>/v2/video/generations</c>: create answers 200, usage is <c>credits_used</c>.</summary>
    Universal,

    /// <summary><c>/v2/generate/video/kling/generation</c>: create answers 201, usage is <c>tokens_used</c>.</summary>
    Legacy,
}

/// <summary>A generation the simulator created; its status follows from the time since its create.</summary>
internal sealed class SimulatedGeneration(
    string id,
    string model,
    string imageUrl,
    RouteFamily family,
    Scenario scenario,
    DateTimeOffset createdAt,
    TimeSpan queuedFor,
    TimeSpan generatingFor)
{
    private int _fetchCount;
    private int _fileRequests;

    public string Id { get; } = id;

    public string Model { get; } = model;

    /// <summary>The create's <c>image_url</c> as a fetch answer shows it: a long one (a data URL) cut to its start.</summary>
    public string ImageUrl { get; } = imageUrl;

    public RouteFamily Family { get; } = family;

    /// <summary>The directives given at create; they shape every later fetch.</summary>
    public Scenario Scenario { get; } = scenario;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public TimeSpan QueuedFor { get; } = queuedFor;

    public TimeSpan GeneratingFor { get; } = generatingFor;

    /// <summary>The name of the video file served under <c>/files/</c> once it completes.</summary>
    public string FileName { get; } = $"{Guid.NewGuid():N}.mp4";

    public int FetchCount => Volatile.Read(ref _fetchCount);

    /// <summary>Counts one fetch and returns its 1-based number (so <c>fetch=503x2</c> fails numbers 1 and 2).</summary>
    public int CountFetch() => Interlocked.Increment(ref _fetchCount);

    public void ResetFetchCount() => Interlocked.Exchange(ref _fetchCount, 0);

    /// <summary>How many requests its video file has had.</summary>
    public int FileRequests => Volatile.Read(ref _fileRequests);

    /// <summary>Counts one request of its video file and returns its 1-based number.</summary>
    public int CountFileRequest() => Interlocked.Increment(ref _fileRequests);

    public GenerationPhase PhaseAt(DateTimeOffset now)
    {
        var elapsed = now - CreatedAt;
        if (elapsed < QueuedFor)
        {
            return GenerationPhase.Queued;
        }

        return elapsed < QueuedFor + GeneratingFor ? GenerationPhase.Generating : GenerationPhase.Ended;
    }
}

internal enum GenerationPhase
{
    Queued,
    Generating,
    Ended,
}
