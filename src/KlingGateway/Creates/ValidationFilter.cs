using FluentValidation;
using KlingGateway.Infrastructure;
using KlingGateway.Models;

namespace KlingGateway.Creates;

/// <summary>
/// Runs on the create routes (<c>.AddEndpointFilter&lt;ValidationFilter&gt;()</c>): answers a refused body with
/// 415/400/413 problem details, a body with faults with one 400 validation problem listing every fault by its
/// JSON path, and otherwise calls the handler, whose request carries its own <see cref="GenerationRequest.Warnings"/>
/// (read from the body with the catalog's rules; the validator reports the same ones). Bad input never throws: it
/// becomes a problem answer.
/// </summary>
public sealed class ValidationFilter(IValidator<GenerationRequest> validator, GatewayMetrics metrics) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        GenerationRequest? request = null;
        foreach (var argument in context.Arguments)
        {
            if (argument is GenerationRequest found)
            {
                request = found;
                break;
            }
        }

        if (request is null)
        {
            return await next(context);
        }

        switch (request.Rejection)
        {
            case RequestRejection.UnsupportedMediaType:
                return ProblemCatalog.UnsupportedMediaType.Result(request.RejectionDetail!);
            case RequestRejection.TooLarge:
                return ProblemCatalog.BodyTooLarge.Result(request.RejectionDetail!);
            case RequestRejection.MalformedJson:
                return ProblemCatalog.MalformedJson.Result(request.RejectionDetail!);
            case RequestRejection.NotAnObject:
                return ProblemCatalog.NotAnObject.Result(request.RejectionDetail!);
            case RequestRejection.TimedOut:
                return ProblemCatalog.RequestTimeout.Result(request.RejectionDetail!);
            case RequestRejection.Busy:
                context.HttpContext.Response.Headers.RetryAfter = BodyBufferBudget.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return ProblemCatalog.GatewayBusy.Result(request.RejectionDetail!);
            case RequestRejection.InvalidText or RequestRejection.TooManyValues:
                metrics.ValidationRejected(request.RejectionErrors!.Keys);
                return ProblemCatalog.InvalidRequest.ValidationResult(
                    new Dictionary<string, string[]>(request.RejectionErrors!, StringComparer.Ordinal), request.RejectionDetail);
        }

        var result = await validator.ValidateAsync(request, context.HttpContext.RequestAborted);
        var errors = result.Errors.Where(f => f.Severity == Severity.Error).ToList();
        if (errors.Count > 0)
        {
            var byField = errors
                .GroupBy(f => f.PropertyName, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Select(f => f.ErrorMessage).ToArray(), StringComparer.Ordinal);
            metrics.ValidationRejected(byField.Keys);
            var fields = byField.Count == 1 ? "1 field" : $"{byField.Count} fields";
            return ProblemCatalog.InvalidRequest.ValidationResult(byField,
                $"Nothing was sent upstream. Fix the {fields} listed in errors (keys are JSON paths as sent).");
        }

        return await next(context);
    }
}

/// <summary>Registers what the create routes' validation needs.</summary>
public static class ValidationServiceCollectionExtensions
{
    /// <summary>
    /// Every validator in the assembly (FluentValidation.DependencyInjectionExtensions), as singletons: they hold no
    /// per-request state, and building one walks its rules, which a request should not pay for (the default is Scoped).
    /// </summary>
    public static IServiceCollection AddGenerationValidation(this IServiceCollection services)
    {
        services.AddValidatorsFromAssemblyContaining<GenerationRequestValidator>(ServiceLifetime.Singleton);
        return services;
    }
}
