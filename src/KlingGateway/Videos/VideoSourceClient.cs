using System.Net;
using KlingGateway.Upstream;
using Microsoft.Extensions.Options;

namespace KlingGateway.Videos;

/// <summary>
/// The HTTP client for a video's source (the upstream's file host, or any host a video URL names): the same egress proxy
/// settings as the upstream client (<c>AimlApi:Proxy</c>, or <c>HTTPS_PROXY</c> / <c>NO_PROXY</c>), and never the
/// server's key. The key is attached only by <see cref="UpstreamAuthHandler"/> in the upstream client's own handler
/// chain; this handler has no such step, because the upstream's video links need no credentials (docs/upstream.md,
/// "Video URLs") and a video host must never see the key. Redirects are followed by .NET's own handler, at most five,
/// only to http or https and never from https down to http, and without any Authorization header.
/// </summary>
public sealed class VideoSourceClient : IDisposable
{
    private const int MaxRedirects = 5;

    private readonly SocketsHttpHandler _handler;

    public VideoSourceClient(IOptions<AimlApiOptions> upstreamOptions)
    {
        var settings = upstreamOptions.Value;
        _handler = new SocketsHttpHandler
        {
            UseCookies = false,
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = MaxRedirects,
            // Bytes are kept and served as the source sent them; a video is not worth compressing.
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = settings.PooledConnectionLifetime,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            ConnectTimeout = settings.ConnectTimeout,
            // Unset: HttpClient.DefaultProxy, which honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
            Proxy = string.IsNullOrWhiteSpace(settings.Proxy) ? null : new WebProxy(settings.Proxy),
            UseProxy = true,
            // A slow source must not hold a connection for ever; downloads and streams have their own overall limits.
            ResponseDrainTimeout = TimeSpan.FromSeconds(2),
        };
        Http = new HttpClient(_handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        Http.DefaultRequestHeaders.UserAgent.ParseAdd("KlingGateway/1.0");
        Invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
    }

    /// <summary>For downloads.</summary>
    public HttpClient Http { get; }

    /// <summary>For streaming through YARP's forwarder, which takes an invoker.</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Whether the gateway may fetch this URL at all: absolute http or https only.</summary>
    public static bool IsFetchable(string? url, out Uri? uri) =>
        Uri.TryCreate(url, UriKind.Absolute, out uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp);

    public void Dispose()
    {
        Http.Dispose();
        Invoker.Dispose();
        _handler.Dispose();
    }
}
