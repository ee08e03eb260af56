using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace KlingGateway.Webhooks;

/// <summary>
/// Which addresses a webhook may be sent to. Checked on the addresses a name resolves to, at connect time, so a name
/// that resolves to an inside address (or is made to, between a check and the connect: DNS rebinding) is refused; the
/// connection goes only to an address that passed (<see cref="WebhookHttp"/>).
/// </summary>
/// <remarks>
/// Refused unless <c>Webhooks:AllowedAddressRanges</c> names them: "this network" and unspecified addresses, loopback,
/// link-local (where the cloud metadata services answer: 169.254.169.254 on AWS, Google Cloud, Azure and others,
/// 169.254.170.2 for AWS task credentials), multicast and reserved ranges, and the metadata addresses outside those:
/// AWS's IPv6 fd00:ec2::254, Alibaba's 100.100.100.200 and Azure's WireServer 168.63.129.16. Private ranges stay allowed by
/// default, since the receivers of a gateway behind a company firewall live there and every destination is already on an
/// operator's list (a configured endpoint or an allowed callback prefix); <c>Webhooks:RefusePrivateAddresses</c> refuses
/// them too. IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
/// </remarks>
public sealed class WebhookAddressPolicy(IOptions<WebhookOptions> options)
{
    private static readonly (IPNetwork Range, string Name)[] Refused =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "this-network"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local (cloud metadata)"),
        (IPNetwork.Parse("100.100.100.200/32"), "cloud metadata"),
        (IPNetwork.Parse("168.63.129.16/32"), "cloud metadata"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved"),
        (IPNetwork.Parse("::/128"), "unspecified"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("fe80::/10"), "link-local"),
        (IPNetwork.Parse("fd00:ec2::254/128"), "cloud metadata"),
        (IPNetwork.Parse("ff00::/8"), "multicast"),
    ];

    private static readonly IPNetwork[] Private =
    [
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("fc00::/7"),
    ];

    private readonly IPNetwork[] _allowed = [.. options.Value.AllowedAddressRanges.Select(r => IPNetwork.Parse(r.Trim()))];

    /// <summary>Whether a webhook may go to <paramref name="address"/>; <paramref name="reason"/> names the refused range.</summary>
    public bool IsAllowed(IPAddress address, out string reason)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        reason = "";
        if (_allowed.Any(range => range.Contains(address)))
        {
            return true;
        }

        foreach (var (range, name) in Refused)
        {
            if (range.Contains(address))
            {
                reason = name;
                return false;
            }
        }

        if (options.Value.RefusePrivateAddresses && Private.Any(range => range.Contains(address)))
        {
            reason = "private (Webhooks:RefusePrivateAddresses)";
            return false;
        }

        return true;
    }
}

/// <summary>A webhook refused because of where its host resolves (never retried: the operator's list or DNS must change).</summary>
public sealed class WebhookAddressRefusedException(string message) : Exception(message);

/// <summary>
/// The HTTP client webhooks are sent with: no proxy (the address checks must see the receiver's own address), no
/// redirects (a 3xx is an answer like any other, and retried), no cookies, no decompression, and a connect callback that
/// resolves the host, drops every address <see cref="WebhookAddressPolicy"/> refuses and connects only to one that
/// passed. TLS still checks the certificate against the URL's host name.
/// </summary>
public sealed class WebhookHttp : IDisposable
{
    /// <summary>The most of a receiver's answer body read (and thrown away); the status is all that counts.</summary>
    public const int MaxResponseBytes = 4096;

    private readonly SocketsHttpHandler _handler;

    public WebhookHttp(WebhookAddressPolicy policy, IOptions<WebhookOptions> options)
    {
        var settings = options.Value;
        _handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = settings.Timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            MaxResponseHeadersLength = 16,
            ResponseDrainTimeout = TimeSpan.FromSeconds(1),
            ConnectCallback = (context, cancellationToken) => ConnectAsync(policy, context.DnsEndPoint, cancellationToken),
        };
        Http = new HttpClient(_handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        Http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("KlingGateway-Webhooks", "1.0"));
    }

    public HttpClient Http { get; }

    private static async ValueTask<Stream> ConnectAsync(WebhookAddressPolicy policy, DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        // An IPv6 literal may come bracketed, as the URL writes it.
        var addresses = IPAddress.TryParse(endpoint.Host.AsSpan().Trim("[]"), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
        var refusals = new List<string>();
        var allowed = new List<IPAddress>();
        foreach (var address in addresses)
        {
            if (policy.IsAllowed(address, out var reason))
            {
                allowed.Add(address);
            }
            else
            {
                refusals.Add($"{address} ({reason})");
            }
        }

        if (allowed.Count == 0)
        {
            throw new WebhookAddressRefusedException(refusals.Count == 0
                ? $"{endpoint.Host} resolves to no address."
                : $"{endpoint.Host} resolves only to addresses webhooks may not go to: {string.Join(", ", refusals)}.");
        }

        // Each checked address in turn; a connection is only ever made to one of them.
        Exception? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException exception)
            {
                socket.Dispose();
                last = exception;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last!;
    }

    public void Dispose()
    {
        Http.Dispose();
        _handler.Dispose();
    }
}
