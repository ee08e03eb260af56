using System.Text;
using FluentValidation;
using FluentValidation.Results;
using KlingGateway.Models;

namespace KlingGateway.Tests.Validation;

/// <summary>Builds create bodies and runs the validator on them.</summary>
internal static class Requests
{
    public const string Url = "https://example.com/first.png";

    public const string V1Standard = "kling-video/v1/standard/image-to-video";
    public const string V1Pro = "kling-video/v1/pro/image-to-video";
    public const string V2Master = "klingai/v2-master-image-to-video";
    public const string V21Standard = "kling-video/v2.1/standard/image-to-video";
    public const string V21Pro = "kling-video/v2.1/pro/image-to-video";

    public static readonly string[] V1 = [V1Standard, V1Pro];
    public static readonly string[] V2 = [V2Master, V21Standard, V21Pro];
    public static readonly string[] All = [.. V1, .. V2];

    private static readonly GenerationRequestValidator Validator = new();

    /// <summary><c>{"model": model, "image_url": Url, fields...}</c>.</summary>
    public static string Body(string model, string fields = "") =>
        fields.Length == 0
            ? $$"""{"model":"{{model}}","image_url":"{{Url}}"}"""
            : $$"""{"model":"{{model}}","image_url":"{{Url}}",{{fields}}}""";

    /// <summary><c>{"model": model, fields...}</c> with no image_url.</summary>
    public static string BodyWithoutImage(string model, string fields) => $$"""{"model":"{{model}}",{{fields}}}""";

    public static GenerationRequest Parse(string json, CreateRoute route = CreateRoute.Gateway) =>
        GenerationRequest.Parse(Encoding.UTF8.GetBytes(json), route);

    public static ValidationResult Validate(string json, CreateRoute route = CreateRoute.Gateway)
    {
        using var request = Parse(json, route);
        Assert.Equal(RequestRejection.None, request.Rejection);
        return Validator.Validate(request);
    }

    public static IReadOnlyList<ValidationFailure> Errors(this ValidationResult result) =>
        [.. result.Errors.Where(f => f.Severity == Severity.Error)];

    public static IReadOnlyList<ValidationFailure> Warnings(this ValidationResult result) =>
        [.. result.Errors.Where(f => f.Severity == Severity.Warning)];

    /// <summary>Asserts an error at exactly <paramref name="key"/> whose message holds every fragment.</summary>
    public static ValidationFailure AssertError(this ValidationResult result, string key, params string[] fragments)
    {
        var atKey = result.Errors().Where(f => f.PropertyName == key).ToList();
        Assert.True(atKey.Count > 0,
            $"No error at '{key}'. Errors: {string.Join(" | ", result.Errors().Select(f => $"{f.PropertyName}: {f.ErrorMessage}"))}");
        var match = atKey.FirstOrDefault(f => fragments.All(fragment => f.ErrorMessage.Contains(fragment, StringComparison.Ordinal)));
        Assert.True(match is not null,
            $"No error at '{key}' mentions [{string.Join(", ", fragments)}]. Messages: {string.Join(" | ", atKey.Select(f => f.ErrorMessage))}");
        Assert.StartsWith(key + " ", match!.ErrorMessage);
        return match;
    }

    public static void AssertNoErrors(this ValidationResult result) =>
        Assert.True(result.Errors().Count == 0,
            "Unexpected errors: " + string.Join(" | ", result.Errors().Select(f => $"{f.PropertyName}: {f.ErrorMessage}")));

    public static string Points(int count) =>
        "[" + string.Join(",", Enumerable.Range(0, count).Select(i => $$"""{"x":{{i}},"y":{{i}}}""")) + "]";

    public static string Mask(string trajectories) => $$"""{"mask":"{{Url}}","trajectories":{{trajectories}}}""";
}
