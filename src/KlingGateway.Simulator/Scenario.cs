using System.Globalization;
using System.Text.RegularExpressions;

namespace KlingGateway.Simulator;

/// <summary>A failure to inject: an HTTP status with the upstream's error body, or a truncated 200 JSON body.</summary>
/// <param name="StatusCode">The status to answer, or null for a malformed (truncated) 200 body.</param>
/// <param name="Times">How many answers fail (fetches only); null means every one.</param>
internal sealed record Fault(int? StatusCode, int? Times)
{
    public bool IsMalformed => StatusCode is null;
}

internal enum OutcomeKind
{
    Completed,
    Complete,
    ErrorName,
    ErrorDetail,
    ErrorText,
    Failed,
    Status,
}

/// <summary>How a generation ends once its generating time is over.</summary>
internal sealed record Outcome(OutcomeKind Kind, string? Word = null)
{
    public static readonly Outcome Completed = new(OutcomeKind.Completed);
}

/// <summary>
/// What a request asks the simulator to do instead of the happy path. Tests drive the simulator through the
/// gateway, which forwards only the body, so the directives ride in the prompt as <c>[sim:key=value,...]</c>;
/// the same list may come in the <c>X-Simulator-Scenario</c> header. Later sources win key by key.
/// </summary>
internal sealed partial class Scenario
{
    public const string HeaderName = "X-Simulator-Scenario";

    /// <summary>The statuses the upstream documents (docs/upstream.md, "Errors"); only these can be injected.</summary>
    private static readonly HashSet<int> InjectableStatuses = [400, 401, 403, 404, 429, 500, 502, 503, 504];

    private const double MaxSeconds = 10_000_000;

    /// <summary>The largest video file the simulator makes (a benchmark's 20 MB video fits with room).</summary>
    private const long MaxVideoBytes = 256L * 1024 * 1024;

    public static readonly Scenario None = new(new Dictionary<string, string>(), logger: null);

    private Scenario(IReadOnlyDictionary<string, string> directives, ILogger? logger)
    {
        Directives = directives;
        foreach (var (key, value) in directives)
        {
            if (!Apply(key, value))
            {
                if (logger is not null)
                {
                    Log.DirectiveIgnored(logger, key, value);
                }
            }
        }
    }

    /// <summary>The raw directives, kept so a fetch can lay its header's directives over the create's.</summary>
    public IReadOnlyDictionary<string, string> Directives { get; }

    public Fault? CreateFault { get; private set; }

    public TimeSpan? CreateDelay { get; private set; }

    /// <summary>A delay after the generation is created (and billed), before its answer: a caller gone meanwhile never learns its id.</summary>
    public TimeSpan? AnswerDelay { get; private set; }

    /// <summary>The create is left out of the usage log.</summary>
    public bool OmitFromLog { get; private set; }

    public int? RetryAfterSeconds { get; private set; }

    public bool StatusAsString { get; private set; }

    public Fault? FetchFault { get; private set; }

    public TimeSpan? FetchDelay { get; private set; }

    public TimeSpan? Queued { get; private set; }

    public TimeSpan? Generating { get; private set; }

    public bool LegacyWords { get; private set; }

    public Outcome Outcome { get; private set; } = Outcome.Completed;

    /// <summary>How the video file answers: a status (every time, or the first N times).</summary>
    public Fault? VideoFault { get; private set; }

    /// <summary>The video file's size: the sample padded (or cut) to this many bytes.</summary>
    public long? VideoBytes { get; private set; }

    /// <summary>The video file is sent at this many bytes per second.</summary>
    public long? VideoRate { get; private set; }

    /// <summary>The video file's Content-Type instead of video/mp4.</summary>
    public string? VideoType { get; private set; }

    /// <summary>The video file is sent without a Content-Length (chunked).</summary>
    public bool VideoChunked { get; private set; }

    /// <summary>Reads the directives of a header value and a prompt, the prompt's winning.</summary>
    public static Scenario From(string? header, string? prompt, ILogger logger) =>
        Overlay(Read(header), ReadPrompt(prompt), logger);

    /// <summary>This scenario with a later source's directives laid over it.</summary>
    public Scenario With(string? header, ILogger logger) =>
        string.IsNullOrWhiteSpace(header) ? this : Overlay(Directives, Read(header), logger);

    private static Scenario Overlay(IReadOnlyDictionary<string, string> first, IReadOnlyDictionary<string, string> second, ILogger logger)
    {
        if (first.Count == 0 && second.Count == 0)
        {
            return None;
        }

        var merged = new Dictionary<string, string>(first, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in second)
        {
            merged[key] = value;
        }

        return new Scenario(merged, logger);
    }

    private static Dictionary<string, string> ReadPrompt(string? prompt)
    {
        var directives = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrEmpty(prompt))
        {
            return directives;
        }

        foreach (Match match in Token().Matches(prompt))
        {
            foreach (var (key, value) in Read(match.Groups["list"].Value))
            {
                directives[key] = value;
            }
        }

        return directives;
    }

    private static Dictionary<string, string> Read(string? list)
    {
        var directives = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrWhiteSpace(list))
        {
            return directives;
        }

        foreach (var item in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? item : item[..equals].Trim();
            var value = equals < 0 ? "" : item[(equals + 1)..].Trim();
            if (key.Length > 0)
            {
                directives[key.ToLowerInvariant()] = value;
            }
        }

        return directives;
    }

    /// <summary>Applies one directive; false when the key or its value is not understood.</summary>
    private bool Apply(string key, string value)
    {
        switch (key)
        {
            case "create" when ParseFault(value) is { } fault:
                CreateFault = fault with { Times = null };
                return true;
            case "create-delay" when ParseSeconds(value) is { } delay:
                CreateDelay = delay;
                return true;
            case "answer-delay" when ParseSeconds(value) is { } delay:
                AnswerDelay = delay;
                return true;
            case "log" when value.Equals("omit", StringComparison.OrdinalIgnoreCase):
                OmitFromLog = true;
                return true;
            case "retry-after" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds):
                RetryAfterSeconds = seconds;
                return true;
            case "status-as-string" when value.Length == 0 || bool.TryParse(value, out _):
                StatusAsString = value.Length == 0 || bool.Parse(value);
                return true;
            case "fetch" when ParseFault(value) is { } fault:
                FetchFault = fault;
                return true;
            case "fetch-delay" when ParseSeconds(value) is { } delay:
                FetchDelay = delay;
                return true;
            case "queued" when ParseSeconds(value) is { } queued:
                Queued = queued;
                return true;
            case "generating" when ParseSeconds(value) is { } generating:
                Generating = generating;
                return true;
            case "words" when value.Equals("legacy", StringComparison.OrdinalIgnoreCase):
                LegacyWords = true;
                return true;
            case "words" when value.Equals("current", StringComparison.OrdinalIgnoreCase):
                LegacyWords = false;
                return true;
            case "outcome" when ParseOutcome(value) is { } outcome:
                Outcome = outcome;
                return true;
            case "video" when ParseFault(value) is { StatusCode: not null } fault:
                VideoFault = fault;
                return true;
            case "video-bytes" when long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes is > 0 and <= MaxVideoBytes:
                VideoBytes = bytes;
                return true;
            case "video-rate" when long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var rate) && rate > 0:
                VideoRate = rate;
                return true;
            case "video-type" when value.Length is > 0 and <= 100 && value.Contains('/', StringComparison.Ordinal):
                VideoType = value;
                return true;
            case "video-chunked" when value.Length == 0 || bool.TryParse(value, out _):
                VideoChunked = value.Length == 0 || bool.Parse(value);
                return true;
            default:
                return false;
        }
    }

    private static Fault? ParseFault(string value)
    {
        var match = FaultPattern().Match(value);
        if (!match.Success)
        {
            return null;
        }

        int? times = match.Groups["times"].Success
            ? int.Parse(match.Groups["times"].Value, CultureInfo.InvariantCulture)
            : null;
        if (match.Groups["what"].Value.Equals("malformed", StringComparison.OrdinalIgnoreCase))
        {
            return new Fault(null, times);
        }

        var status = int.Parse(match.Groups["what"].Value, CultureInfo.InvariantCulture);
        return InjectableStatuses.Contains(status) ? new Fault(status, times) : null;
    }

    private static TimeSpan? ParseSeconds(string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
        && double.IsFinite(seconds) && seconds is >= 0 and <= MaxSeconds
            ? TimeSpan.FromSeconds(seconds)
            : null;

    private static Outcome? ParseOutcome(string value)
    {
        const string StatusPrefix = "status:";
        if (value.StartsWith(StatusPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var word = value[StatusPrefix.Length..];
            return word.Length > 0 ? new Outcome(OutcomeKind.Status, word) : null;
        }

        return value.ToLowerInvariant() switch
        {
            "completed" => Outcome.Completed,
            "complete" => new Outcome(OutcomeKind.Complete),
            "error-name" => new Outcome(OutcomeKind.ErrorName),
            "error-detail" => new Outcome(OutcomeKind.ErrorDetail),
            "error-text" => new Outcome(OutcomeKind.ErrorText),
            "failed" => new Outcome(OutcomeKind.Failed),
            _ => null,
        };
    }

    [GeneratedRegex(@"\[sim:(?<list>[^\]]*)\]", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Token();

    [GeneratedRegex(@"^(?<what>\d{3}|malformed)(?:x(?<times>\d{1,6}))?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex FaultPattern();
}
