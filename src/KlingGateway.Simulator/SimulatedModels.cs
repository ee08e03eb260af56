using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace KlingGateway.Simulator;

/// <summary>Which backend shapes a model's generation ids (docs/upstream.md, "Ids": the example ids on the model pages).</summary>
internal enum IdFormat
{
    /// <summary>21 characters of nanoid's alphabet, e.g. <c>gg6lldgKC2tRmvJwBjK7-</c> (v1 models).</summary>
    Nanoid,

    /// <summary>fal style <c>&lt;uuid&gt;:kling-video/v2/master/image-to-video</c> (v2 master).</summary>
    UuidWithEndpoint,

    /// <summary>A bare Kling task id, 18 digits, e.g. <c>789339022468063304</c> (v2.1 models).</summary>
    KlingTaskNumber,
}

/// <summary>The five model ids the simulated upstream accepts, and the id each one's generations get.</summary>
internal static class SimulatedModels
{
    private const string NanoidAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

    private static readonly (string Id, IdFormat Format)[] Models =
    [
        ("kling-video/v1/standard/image-to-video", IdFormat.Nanoid),
        ("kling-video/v1/pro/image-to-video", IdFormat.Nanoid),
        ("klingai/v2-master-image-to-video", IdFormat.UuidWithEndpoint),
        ("kling-video/v2.1/standard/image-to-video", IdFormat.KlingTaskNumber),
        ("kling-video/v2.1/pro/image-to-video", IdFormat.KlingTaskNumber),
    ];

    private static readonly Dictionary<string, IdFormat> Formats =
        Models.ToDictionary(m => m.Id, m => m.Format, StringComparer.Ordinal);

    /// <summary>The accepted ids, in the order the upstream's zod message lists them.</summary>
    public static IReadOnlyList<string> Ids { get; } = [.. Models.Select(m => m.Id)];

    public static bool IsKnown(string model) => Formats.ContainsKey(model);

    public static string NewGenerationId(string model) => Formats[model] switch
    {
        IdFormat.Nanoid => new string(RandomNumberGenerator.GetItems<char>(NanoidAlphabet, 21)),
        IdFormat.UuidWithEndpoint => $"{Guid.NewGuid():D}:kling-video/v2/master/image-to-video",
        IdFormat.KlingTaskNumber => NewTaskNumber(),
        _ => throw new InvalidOperationException($"No id format for model '{model}'."),
    };

    private static string NewTaskNumber()
    {
        var digits = new StringBuilder(18);
        digits.Append(RandomNumberGenerator.GetInt32(1, 10).ToString(CultureInfo.InvariantCulture));
        for (var i = 1; i < 18; i++)
        {
            digits.Append(RandomNumberGenerator.GetInt32(0, 10).ToString(CultureInfo.InvariantCulture));
        }

        return digits.ToString();
    }
}
