using System.Net;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace KlingGateway.Videos;

/// <summary>How streaming from a video's source ended when it did not stream.</summary>
/// <param name="SourceStatus">The source's status when it refused (404, 500); null when it could not be reached.</param>
/// <param name="TimedOut">Whether the source did not answer in time.</param>
public sealed record SourceFailure(int? SourceStatus, bool TimedOut);

/// <summary>
/// Streams a video the gateway has not stored (a download pending or failed, or storage turned off) from its source URL
/// with YARP's <see cref="IHttpForwarder"/>: the caller's <c>Range</c> and conditional headers go to the source, the
/// body comes back unbuffered with its status (206, 304) and range headers, and the caller leaving cancels only this
/// transfer (YARP ties the outgoing request to the incoming one). Nothing else of the caller's request travels: no
/// credentials, cookies, or the link's token; the source's cookies and other headers do not come back either.
/// </summary>
public sealed class VideoSourceStream(IHttpForwarder forwarder, VideoSourceClient source)
{
    // A stalled source is given up after this long without a byte (YARP's activity timeout).
    private static readonly TimeSpan ActivityTimeout = TimeSpan.FromSeconds(30);

    private static readonly string[] RequestHeaders =
        [HeaderNames.Range, HeaderNames.IfRange, HeaderNames.IfNoneMatch, HeaderNames.IfModifiedSince, HeaderNames.IfMatch, HeaderNames.IfUnmodifiedSince];

    private static readonly string[] ResponseHeaders =
        [HeaderNames.ContentType, HeaderNames.ContentLength, HeaderNames.ContentRange, HeaderNames.AcceptRanges, HeaderNames.ETag,
         HeaderNames.LastModified];

    private static readonly ForwarderRequestConfig Config = new()
    {
        ActivityTimeout = ActivityTimeout,
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
    };

    /// <summary>
    /// Streams <paramref name="url"/> to the response; <see langword="null"/> when it did, else why not (nothing has been
    /// written then, so the caller answers with a problem).
    /// </summary>
    public async Task<SourceFailure?> StreamAsync(HttpContext context, Uri url)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(url);

        var transformer = new SourceTransformer(url);
        var error = await forwarder.SendAsync(context, url.GetLeftPart(UriPartial.Authority), source.Invoker, Config, transformer);
        if (transformer.RefusedStatus is { } status)
        {
            return new SourceFailure(status, TimedOut: false);
        }

        if (error == ForwarderError.None || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            // Streamed; or cut off midway (the caller left, or the source broke off), which only closing can say.
            return null;
        }

        return new SourceFailure(null, TimedOut: error == ForwarderError.RequestTimedOut);
    }

    /// <summary>The request to the source, built from nothing but the video's URL and the caller's range headers.</summary>
    private sealed class SourceTransformer(Uri url) : HttpTransformer
    {
        public int? RefusedStatus { get; private set; }

        public override ValueTask TransformRequestAsync(
            HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            // Not the base transform, which copies every request header but a few: an allow-list here.
            proxyRequest.RequestUri = url;
            proxyRequest.Method = HttpMethods.IsHead(httpContext.Request.Method) ? HttpMethod.Head : HttpMethod.Get;
            proxyRequest.Content = null;
            proxyRequest.Headers.Host = null;
            foreach (var name in RequestHeaders)
            {
                if (httpContext.Request.Headers.TryGetValue(name, out var values))
                {
                    proxyRequest.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)values!);
                }
            }

            return ValueTask.CompletedTask;
        }

        public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            if (proxyResponse is null)
            {
                return ValueTask.FromResult(false);
            }

            var status = (int)proxyResponse.StatusCode;
            // 2xx, 304 (If-None-Match) and 416 (a range past the end) are the source's answers to the caller's own headers.
            if (status >= 400 && status != StatusCodes.Status416RangeNotSatisfiable)
            {
                RefusedStatus = status;
                httpContext.Response.StatusCode = StatusCodes.Status200OK;
                return ValueTask.FromResult(false);
            }

            var headers = httpContext.Response.Headers;
            foreach (var name in ResponseHeaders)
            {
                if (proxyResponse.Headers.TryGetValues(name, out var values) || proxyResponse.Content.Headers.TryGetValues(name, out values))
                {
                    headers[name] = values.ToArray();
                }
            }

            // A stream is not a stored copy: browsers keep it for the length of the link at most.
            headers.CacheControl = "private, no-store";
            return ValueTask.FromResult(true);
        }
    }
}
