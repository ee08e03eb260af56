using System.Text.Json;
using KlingGateway.Generations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Every error is <c>application/problem+json</c> with a <c>code</c> from <see cref="ProblemCatalog"/> and a trace id,
/// whatever the caller's Accept header: a browser asking for text/html gets the same problem as an API client.
/// </summary>
public static class ProblemDetailsSetup
{
    public static IServiceCollection AddGatewayProblemDetails(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            if (LedgerUnavailable.Is(context.Exception))
            {
                var problem = ProblemCatalog.LedgerUnavailable;
                context.ProblemDetails.Extensions["code"] = problem.Code;
                context.ProblemDetails.Title = problem.Title;
                context.ProblemDetails.Detail = "The gateway's ledger cannot serve right now. Retry after the time in the Retry-After header; " +
                    "retry a create with the same Idempotency-Key, so that it never starts a second generation.";
                context.HttpContext.Response.Headers.RetryAfter = LedgerUnavailable.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            // Answers the framework writes itself (status code pages, the exception handler) get the code of their status.
            if (!context.ProblemDetails.Extensions.ContainsKey("code")
                && context.ProblemDetails.Status is { } status
                && ProblemCatalog.ForStatus(status) is { } type)
            {
                context.ProblemDetails.Extensions["code"] = type.Code;
                context.ProblemDetails.Title = type.Title;
            }
        });

        // A BadHttpRequestException (a request the server could not read: a body that stopped arriving, a malformed
        // chunk) is the caller's fault: its own 4xx status, not a 500, and no error in the log.
        services.Configure<ExceptionHandlerOptions>(options =>
        {
            options.StatusCodeSelector = exception => exception switch
            {
                BadHttpRequestException bad => bad.StatusCode,
                // A ledger that cannot serve now (unreachable, out of connections, locked): 503, retry later.
                _ when LedgerUnavailable.Is(exception) => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status500InternalServerError,
            };
            options.SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException;
        });

        // Registered after AddProblemDetails, so it is asked after the framework's writer, which declines any Accept
        // header that does not take JSON; this one always writes. Without it, IProblemDetailsService.WriteAsync throws
        // for "Accept: text/html" and a 401 or 429 turns into an empty 500.
        services.AddSingleton<IProblemDetailsWriter, AnyAcceptProblemDetailsWriter>();
        return services;
    }

    /// <summary>Writes the problem as <c>application/problem+json</c> whatever the request accepts.</summary>
    private sealed class AnyAcceptProblemDetailsWriter(
        IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, IOptions<ProblemDetailsOptions> problems) : IProblemDetailsWriter
    {
        private readonly JsonSerializerOptions _options = json.Value.SerializerOptions;

        public bool CanWrite(ProblemDetailsContext context) => true;

        public ValueTask WriteAsync(ProblemDetailsContext context)
        {
            var response = context.HttpContext.Response;
            ProblemDetailsDefaultsApply(context, response.StatusCode);
            problems.Value.CustomizeProblemDetails?.Invoke(context);
            return new ValueTask(response.WriteAsJsonAsync(
                context.ProblemDetails, _options.GetTypeInfo(typeof(ProblemDetails)), "application/problem+json", context.HttpContext.RequestAborted));
        }

        /// <summary>What the framework's own writer fills in: status, title, the RFC 9110 section as type, and the trace id.</summary>
        private static void ProblemDetailsDefaultsApply(ProblemDetailsContext context, int statusCode)
        {
            var problem = context.ProblemDetails;
            problem.Status ??= statusCode;
            problem.Title ??= Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(problem.Status.Value);
            if (problem.Type is null && Rfc9110Section(problem.Status.Value) is { } section)
            {
                problem.Type = "https://tools.ietf.org/html/rfc9110#section-" + section;
            }

            if (!problem.Extensions.ContainsKey("traceId"))
            {
                problem.Extensions["traceId"] = System.Diagnostics.Activity.Current?.Id ?? context.HttpContext.TraceIdentifier;
            }
        }

        private static string? Rfc9110Section(int status) => status switch
        {
            400 => "15.5.1",
            401 => "15.5.2",
            403 => "15.5.4",
            404 => "15.5.5",
            405 => "15.5.6",
            406 => "15.5.7",
            408 => "15.5.9",
            409 => "15.5.10",
            412 => "15.5.13",
            413 => "15.5.14",
            415 => "15.5.16",
            422 => "15.5.21",
            500 => "15.6.1",
            502 => "15.6.3",
            503 => "15.6.4",
            504 => "15.6.5",
            _ => null,
        };
    }
}
