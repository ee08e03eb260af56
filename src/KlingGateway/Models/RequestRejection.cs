namespace KlingGateway.Models;

/// <summary>Why a create body was refused before any field was looked at.</summary>
public enum RequestRejection
{
    /// <summary>The body is a JSON object; field validation decides the rest.</summary>
    None,

    /// <summary>Not sent as JSON (415).</summary>
    UnsupportedMediaType,

    /// <summary>Empty, unreadable or not valid JSON (400).</summary>
    MalformedJson,

    /// <summary>Valid JSON, but not an object (400).</summary>
    NotAnObject,

    /// <summary>Larger than <see cref="GenerationRequest.MaxBodyBytes"/> (413).</summary>
    TooLarge,

    /// <summary>The body stopped arriving, or arrived too slowly to read (408).</summary>
    TimedOut,

    /// <summary>
    /// Valid JSON, but a string in it is not text: invalid UTF-8 or an unpaired surrogate escape (400, with
    /// <see cref="GenerationRequest.RejectionErrors"/> naming each one's JSON path).
    /// </summary>
    InvalidText,

    /// <summary>
    /// Valid JSON or not, it holds more tokens than any valid body could (400, with
    /// <see cref="GenerationRequest.RejectionErrors"/> naming its largest collection and how many it holds).
    /// </summary>
    TooManyValues,

    /// <summary>
    /// The bodies being received across all requests already hold <c>Gateway:MaxBufferedBodyBytes</c> (503 with
    /// Retry-After).
    /// </summary>
    Busy,
}
