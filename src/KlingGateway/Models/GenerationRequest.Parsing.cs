using System.Globalization;
using System.Text.Json;

namespace KlingGateway.Models;

/// <summary>Parsing a read body: empty, oversized, malformed or mis-encoded JSON becomes a <see cref="RequestRejection"/>.</summary>
public sealed partial class GenerationRequest
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32 };

    /// <summary>Most faults a rejection lists, as validation lists at most 100.</summary>
    private const int MaxRejectionErrors = 100;

    /// <summary>Parses an already-read UTF-8 JSON body. The memory must outlive the returned request.</summary>
    public static GenerationRequest Parse(ReadOnlyMemory<byte> utf8Json, CreateRoute route) => Parse(utf8Json, route, null);

    private static GenerationRequest Parse(ReadOnlyMemory<byte> utf8Json, CreateRoute route, BodyBuffer? body)
    {
        if (utf8Json.IsEmpty || IsWhitespace(utf8Json.Span))
        {
            ReturnToPool(body);
            return new GenerationRequest(route, RequestRejection.MalformedJson, "The request body is empty; send a JSON object.");
        }

        // Counted before the parser indexes it, so that the index is small whatever was sent.
        if (JsonText.Oversized(utf8Json.Span, JsonText.MaxTokens) is { } oversized)
        {
            ReturnToPool(body);
            var (path, children, isArray, tokens) = oversized;
            var message = string.Create(CultureInfo.InvariantCulture,
                $"{path} has {children} {(isArray ? "items" : "members")}, and the body {tokens} JSON tokens in all: more than the " +
                $"{JsonText.MaxTokens} a create body may hold (its rules allow a few thousand). Nothing in it was checked.");
            return new GenerationRequest(route, RequestRejection.TooManyValues,
                "Nothing was sent upstream. The body holds far more than any model's rules allow; errors names its largest part.")
            {
                RejectionErrors = new Dictionary<string, string[]>(StringComparer.Ordinal) { [path] = [message] },
            };
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json, DocumentOptions);
        }
        catch (JsonException e)
        {
            ReturnToPool(body);
            // The parser's own message can quote body text; give only the position.
            var where = e.LineNumber is { } line
                ? string.Create(CultureInfo.InvariantCulture, $" at line {line + 1}, byte {e.BytePositionInLine + 1} of that line")
                : "";
            return new GenerationRequest(route, RequestRejection.MalformedJson,
                $"The request body is not valid JSON: the parser stopped{where}.");
        }

        // The parser checks neither UTF-8 nor surrogate escapes inside strings, and reading a bad string later throws:
        // check the whole body once, and name each bad string's path when it fails.
        if (!JsonText.IsValid(utf8Json.Span))
        {
            var faults = JsonText.Faults(utf8Json.Span, MaxRejectionErrors);
            document.Dispose();
            ReturnToPool(body);
            return new GenerationRequest(route, RequestRejection.InvalidText,
                "Nothing was sent upstream. Every JSON string must be valid UTF-8 text; errors names each one that is not.")
            {
                RejectionErrors = faults
                    .GroupBy(f => f.Key, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.Select(f => $"{f.Key} {f.Value}").ToArray(), StringComparer.Ordinal),
            };
        }

        return new GenerationRequest(route, document, body, utf8Json);
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> span) => span.TrimStart(" \t\r\n"u8).IsEmpty;

    private static void ReturnToPool(BodyBuffer? buffer) => buffer?.Dispose();
}
