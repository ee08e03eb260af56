using System.Collections.Concurrent;

namespace KlingGateway.Simulator;

/// <summary>One request the simulator received on an upstream route, as it arrived.</summary>
/// <param name="Method">The HTTP method.</param>
/// <param name="Path">The path, without the query string.</param>
/// <param name="QueryString">The raw query string, with its leading <c>?</c> (empty when none).</param>
/// <param name="Headers">Every header (names case-insensitive; repeated values joined with <c>, </c>).</param>
/// <param name="Body">The body as text; a body over 1 MB is kept as <c>&lt;N bytes, sha256 HEX&gt;</c>.</param>
/// <param name="At">When it arrived.</param>
public sealed record RecordedRequest(
    string Method,
    string Path,
    string QueryString,
    IReadOnlyDictionary<string, string> Headers,
    string Body,
    DateTimeOffset At);

/// <summary>
/// What the simulator has seen and holds: the recorded requests, the generations and their counters.
/// A singleton in the simulator app's services; safe to read from tests while requests run.
/// </summary>
public sealed class SimulatorState
{
    /// <summary>Requests kept in memory; older ones are dropped so a long demo run stays bounded.</summary>
    public const int MaxRecordedRequests = 500;

    /// <summary>Generations kept in memory; the oldest are forgotten beyond this.</summary>
    internal const int MaxGenerations = 10_000;

    private readonly Lock _requestsLock = new();
    private readonly Queue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, SimulatedGeneration> _generations = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _generationOrder = new();
    private readonly ConcurrentDictionary<string, SimulatedGeneration> _files = new(StringComparer.Ordinal);
    private readonly Lock _fileRequestsLock = new();
    private readonly Queue<RecordedRequest> _fileRequests = new();
    private int _createCount;
    private long _fetchTotal;

    /// <summary>Every request to the upstream routes, oldest first (a snapshot of the last 500).</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_requestsLock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Every request for a video file, oldest first (the last 500), kept apart from <see cref="Requests"/>.</summary>
    public IReadOnlyList<RecordedRequest> FileRequests
    {
        get
        {
            lock (_fileRequestsLock)
            {
                return [.. _fileRequests];
            }
        }
    }

    /// <summary>How many authorized fetches of known generations arrived, for all generations together.</summary>
    public long FetchTotal => Interlocked.Read(ref _fetchTotal);

    /// <summary>How many requests a generation's video file has had; 0 if unknown.</summary>
    public int FileRequestCount(string upstreamId) =>
        _generations.TryGetValue(upstreamId, out var generation) ? generation.FileRequests : 0;

    /// <summary>How many POSTs reached a create route, whatever the answer (so a retried create shows).</summary>
    public int CreateCount => Volatile.Read(ref _createCount);

    /// <summary>How many authorized GETs asked for this generation, failed ones included; 0 if unknown.</summary>
    public int FetchCount(string upstreamId) =>
        _generations.TryGetValue(upstreamId, out var generation) ? generation.FetchCount : 0;

    /// <summary>Forgets the recorded requests and resets the counters. Generations keep running.</summary>
    public void Clear()
    {
        lock (_requestsLock)
        {
            _requests.Clear();
        }

        lock (_fileRequestsLock)
        {
            _fileRequests.Clear();
        }

        Interlocked.Exchange(ref _createCount, 0);
        Interlocked.Exchange(ref _fetchTotal, 0);
        foreach (var generation in _generations.Values)
        {
            generation.ResetFetchCount();
        }
    }

    internal void Record(RecordedRequest request)
    {
        lock (_requestsLock)
        {
            _requests.Enqueue(request);
            while (_requests.Count > MaxRecordedRequests)
            {
                _requests.Dequeue();
            }
        }
    }

    internal void CountCreate() => Interlocked.Increment(ref _createCount);

    internal void CountFetch() => Interlocked.Increment(ref _fetchTotal);

    internal void RecordFileRequest(RecordedRequest request)
    {
        lock (_fileRequestsLock)
        {
            _fileRequests.Enqueue(request);
            while (_fileRequests.Count > MaxRecordedRequests)
            {
                _fileRequests.Dequeue();
            }
        }
    }

    internal void Add(SimulatedGeneration generation)
    {
        _generations[generation.Id] = generation;
        _files[generation.FileName] = generation;
        _generationOrder.Enqueue(generation.Id);
        while (_generationOrder.Count > MaxGenerations && _generationOrder.TryDequeue(out var oldest))
        {
            if (_generations.TryRemove(oldest, out var removed))
            {
                _files.TryRemove(removed.FileName, out _);
            }
        }
    }

    internal SimulatedGeneration? FindByFile(string fileName) =>
        _files.TryGetValue(fileName, out var generation) ? generation : null;

    internal SimulatedGeneration? Find(string id) =>
        _generations.TryGetValue(id, out var generation) ? generation : null;
}
