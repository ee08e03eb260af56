using System.Globalization;
using System.Text.Json;

namespace KlingGateway.Models;

public sealed partial class GenerationRequestValidator
{
    /// <summary>Image fields: the inspector's verdict, then the size, side and aspect limits of the field's <see cref="ImageRule"/>.</summary>
    private sealed partial class Walk
    {
        private void CheckImage(ImageRule? rule, string path, JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.String)
            {
                Error(path, $"{ImageInspector.NotAnImage} (got {JsonKinds.Describe(value)}).");
                return;
            }

            var image = request.Image(path);
            if (image is null)
            {
                return;
            }

            if (image.Fault is { } fault)
            {
                Error(path, fault);
                return;
            }

            if (image.Data is not { } data || rule is null)
            {
                return;
            }

            if (data.DecodedBytes > rule.MaxBytes)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must be at most {Megabytes(rule.MaxBytes)} ({rule.MaxBytes} bytes) of image data; this image is {data.DecodedBytes} bytes."));
            }

            if (data.Width < rule.MinSide || data.Height < rule.MinSide)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must be at least {rule.MinSide} px on each side; this image is {data.Width}×{data.Height}."));
            }

            if (data.Width > rule.MaxSide || data.Height > rule.MaxSide)
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must be at most {rule.MaxSide} px on each side; this image is {data.Width}×{data.Height}."));
            }

            // Width/height against [MinAspect, MaxAspect]; the tolerance only absorbs binary rounding of 1/2.5.
            var aspect = (double)data.Width / data.Height;
            if ((rule.MinAspect is { } low && aspect < low - 1e-9) || (rule.MaxAspect is { } high && aspect > high + 1e-9))
            {
                Error(path, string.Create(CultureInfo.InvariantCulture,
                    $"must have an aspect ratio (width:height) between {Ratio(rule.MinAspect)} and {Ratio(rule.MaxAspect)}; " +
                    $"this image is {data.Width}×{data.Height}."));
            }
        }

        private static string Megabytes(long bytes) => bytes % (1024 * 1024) == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024 * 1024)} MB")
            : string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");

        private static string Ratio(double? aspect) => aspect switch
        {
            null => "any",
            >= 1 => string.Create(CultureInfo.InvariantCulture, $"{aspect.Value:0.###}:1"),
            _ => string.Create(CultureInfo.InvariantCulture, $"1:{1 / aspect.Value:0.###}"),
        };
    }
}
