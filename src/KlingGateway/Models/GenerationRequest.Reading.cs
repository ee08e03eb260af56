using System.Globalization;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace KlingGateway.Models;

/// <summary>Reading a create body from the HTTP request: its media type, its size limit, and its room in the body budget.</summary>
public sealed partial class GenerationRequest
{
    /// <summary>
    /// Minimal API binding: reads the current request's body. Returns a request carrying a
    /// <see cref="Rejection"/> for bad input; throws only when the request is aborted.
    /// </summary>
    public static async ValueTask<GenerationRequest?> BindAsync(HttpContext context)
    {
        var route = context.GetEndpoint()?.Metadata.GetMetadata<CreateRouteMetadata>()?.Route ?? CreateRoute.Gateway;
        var request = await ReadAsync(context, route);
        context.Response.RegisterForDispose(request);
        return request;
    }

    private static async ValueTask<GenerationRequest> ReadAsync(HttpContext context, CreateRoute route)
    {
        var maxBytes = context.RequestServices.GetService<IOptions<GatewayOptions>>()?.Value.MaxRequestBodyBytes ?? MaxBodyBytes;
        var budget = context.RequestServices.GetService<BodyBufferBudget>();
        var http = context.Request;
        var length = http.ContentLength;
        var hasBody = length > 0 || (length is null && http.Headers.TransferEncoding.Count > 0);
        if (!http.HasJsonContentType() && (hasBody || http.ContentType is not null))
        {
            return new GenerationRequest(route, RequestRejection.UnsupportedMediaType,
                "Send the body as JSON with Content-Type: application/json.");
        }

        if (length > maxBytes)
        {
            return TooLarge(route, maxBytes);
        }

        // Let the server's own limit (Kestrel: 30 MB by default) match ours, while the body is still unread.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = maxBytes;
        }

        // The buffer grows with what arrives, up to the announced length (and one byte to see the end) or the limit;
        // Content-Length alone never sizes it.
        var atMost = (int)Math.Min(length ?? maxBytes, maxBytes) + 1;
        var buffer = new BodyBuffer(budget);
        try
        {
            while (true)
            {
                if (buffer.Free.IsEmpty && !await buffer.GrowAsync(atMost, context.RequestAborted))
                {
                    buffer.Dispose();
                    return Busy(route);
                }

                var n = await http.Body.ReadAsync(buffer.Free, context.RequestAborted);
                if (n == 0)
                {
                    break;
                }

                buffer.Advance(n);
                if (buffer.Length > maxBytes)
                {
                    buffer.Dispose();
                    return TooLarge(route, maxBytes);
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            buffer.Dispose();
            return TooLarge(route, maxBytes);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status408RequestTimeout)
        {
            // Kestrel gave up on a body arriving below its minimum data rate.
            buffer.Dispose();
            return new GenerationRequest(route, RequestRejection.TimedOut,
                "The request body arrived too slowly (under 240 bytes a second) and reading it was given up. Send it again.");
        }
        catch (BadHttpRequestException)
        {
            buffer.Dispose();
            context.RequestAborted.ThrowIfCancellationRequested();
            return new GenerationRequest(route, RequestRejection.MalformedJson, "The request body could not be read completely.");
        }
        catch
        {
            buffer.Dispose();
            throw;
        }

        // The parser takes an index of about the body's size (JsonDocument rents it from the shared pool while it
        // parses): reserve that too.
        var index = (long)buffer.Length;
        if (budget is not null && !await budget.ReserveAsync(index, context.RequestAborted))
        {
            buffer.Dispose();
            return Busy(route);
        }

        try
        {
            return Parse(buffer.Memory, route, buffer);
        }
        finally
        {
            budget?.Release(index);
        }
    }

    private static GenerationRequest Busy(CreateRoute route) => new(route, RequestRejection.Busy,
        string.Create(CultureInfo.InvariantCulture,
            $"The gateway is holding as many request bodies as it may (Gateway:MaxBufferedBodyBytes). Retry after {BodyBufferBudget.RetryAfterSeconds} s."));

    private static GenerationRequest TooLarge(CreateRoute route, long maxBytes) => new(route, RequestRejection.TooLarge,
        string.Create(CultureInfo.InvariantCulture,
            $"The request body is larger than {maxBytes / (1024 * 1024)} MB. Images may be at most {ModelCatalog.FirstFrame.MaxBytes / (1024 * 1024)} MB each; an https URL avoids sending them inline."));
}
