namespace KlingGateway.Models;

/// <summary>
/// An image field as the caller sent it: a URL, or base64 data read down to its header.
/// </summary>
/// <param name="Path">The JSON path of the field, as the caller wrote it (e.g. <c>dynamic_masks[0].mask</c>).</param>
/// <param name="Url">The URL when the value is an absolute http(s) URL.</param>
/// <param name="Data">What the base64 data holds, when it decoded (any format; see <paramref name="Fault"/>).</param>
/// <param name="DataUriPrefixLength">Length of a <c>data:image/...;base64,</c> prefix; 0 for bare base64 or a URL.</param>
/// <param name="Fault">Why the value is not a usable image, worded to follow the field name; null when it is.</param>
public sealed record ImageValue(string Path, string? Url, ImageInfo? Data, int DataUriPrefixLength, string? Fault);

/// <summary>What the header of decoded base64 image data says. Pixels are never decoded.</summary>
/// <param name="Format"><c>png</c>, <c>jpeg</c>, or what else the magic bytes show (<c>gif</c>, <c>webp</c>, <c>bmp</c>, <c>tiff</c>, <c>heif</c>, <c>unknown</c>).</param>
/// <param name="Width">Pixels, from the PNG IHDR or the JPEG SOFn segment; 0 for other formats.</param>
/// <param name="Height">Pixels; 0 for other formats.</param>
/// <param name="DecodedBytes">Exact size of the decoded data.</param>
/// <param name="Sha256Hex">SHA-256 of the decoded bytes, lower-case hex.</param>
public sealed record ImageInfo(string Format, int Width, int Height, long DecodedBytes, string Sha256Hex);
