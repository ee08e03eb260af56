using System.Globalization;
using Microsoft.Extensions.Primitives;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace KlingGateway.Infrastructure;

/// <summary>
/// An integer query parameter a handler reads itself rather than through binding, so that any value that is not one
/// (<c>abc</c>, <c>1e400</c>, <c>%FF</c>, two values) is an <c>invalid_query</c> fault naming the parameter, like an
/// out-of-range one, instead of the framework's bare 400 (an exception, a 500, in Development). The handler binds it as
/// an array of strings; as endpoint metadata it keeps the OpenAPI document calling it an integer
/// (<see cref="IntegerQueryFilter"/>).
/// </summary>
/// <param name="Name">The parameter's name.</param>
/// <param name="Minimum">The least value.</param>
public sealed record IntegerQuery(string Name, int Minimum)
{
    /// <summary>
    /// The parameter's value when it is given once and is an integer in [<see cref="Minimum"/>, <paramref name="maximum"/>];
    /// otherwise null, with a fault in <paramref name="errors"/> when it was given at all.
    /// </summary>
    public int? Read(StringValues values, int maximum, IDictionary<string, string[]> errors)
    {
        if (values.Count == 0)
        {
            return null;
        }

        var range = string.Create(CultureInfo.InvariantCulture, $"between {Minimum} and {maximum}");
        if (values.Count > 1)
        {
            errors[Name] = [$"{Name} is given {values.Count} times; give one integer {range}."];
            return null;
        }

        var text = values[0] ?? "";
        // Digits only (int.TryParse would also take trailing NULs).
        if (text.Length is > 0 and <= 11 && text.AsSpan(text[0] == '-' ? 1 : 0).IndexOfAnyExceptInRange('0', '9') < 0
            && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= Minimum && value <= maximum)
        {
            return value;
        }

        var got = text.Length > 40 ? text[..40] + "…" : text;
        errors[Name] = [$"{Name} must be an integer {range} (got \"{got}\")."];
        return null;
    }
}

/// <summary>Documents each <see cref="IntegerQuery"/> of an endpoint as an integer parameter.</summary>
internal sealed class IntegerQueryFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        foreach (var query in context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<IntegerQuery>())
        {
            if (operation.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == query.Name) is { } parameter)
            {
                parameter.Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.Integer,
                    Format = "int32",
                    Minimum = query.Minimum.ToString(CultureInfo.InvariantCulture),
                };
            }
        }
    }
}
