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

    /// <summary>Usage-log rows kept; the oldest are dropped beyond this.</summary>
    internal const int MaxUsageLogEntries = 20_000;

    private readonly Lock _usageLogLock = new();
    private readonly Queue<UsageLogEntry> _usageLog = new();
    private readonly Queue<DateTimeOffset> _usageLogReadTimes = new();
    private int _usageLogReads;
    // 0 when the log answers normally, else the status it fails with.
    private int _usageLogFault;

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

    /// <summary>The usage log, oldest first (a snapshot of the last 20,000 rows): one row per create and fetch made with the key.</summary>
    public IReadOnlyList<UsageLogEntry> UsageLog
    {
        get
        {
            lock (_usageLogLock)
            {
                return [.. _usageLog];
            }
        }
    }

    /// <summary>How many authorized requests reached <c>GET /v2/logs</c>, refused ones included.</summary>
    public int UsageLogReads => Volatile.Read(ref _usageLogReads);

    /// <summary>When set, <c>GET /v2/logs</c> answers this status with the upstream's error body (400..599), as a failing log would.</summary>
    public int? UsageLogFault
    {
        get => Volatile.Read(ref _usageLogFault) is var status and > 0 ? status : null;
        set
        {
            if (value is < 400 or > 599)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "A usage-log fault is an error status, 400 to 599.");
            }

            Volatile.Write(ref _usageLogFault, value ?? 0);
        }
    }

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

    internal void AddToUsageLog(UsageLogEntry entry)
    {
        lock (_usageLogLock)
        {
            _usageLog.Enqueue(entry);
            while (_usageLog.Count > MaxUsageLogEntries)
            {
                _usageLog.Dequeue();
            }
        }
    }

    /// <summary>Counts a usage-log read; false when it is over <paramref name="limit"/> reads in the <paramref name="window"/> before <paramref name="now"/>.</summary>
    internal bool TryCountUsageLogRead(DateTimeOffset now, int limit, TimeSpan window)
    {
        Interlocked.Increment(ref _usageLogReads);
        lock (_usageLogLock)
        {
            while (_usageLogReadTimes.Count > 0 && _usageLogReadTimes.Peek() <= now - window)
            {
                _usageLogReadTimes.Dequeue();
            }

            if (_usageLogReadTimes.Count >= limit)
            {
                return false;
            }

            _usageLogReadTimes.Enqueue(now);
            return true;
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
