using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace KlingGateway.Tests.Upstream;

/// <summary>
/// Behind a firewall the upstream is reached through the company's forward proxy. A real loopback proxy that
/// takes absolute-form requests (RFC 9112 §3.2.2), as an HTTP proxy does, forwards them to the simulator and
/// counts what passed through.
/// </summary>
public sealed class ProxyTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Fact]
    public async Task ConfiguredProxy_CarriesEveryUpstreamCall()
    {
        var passed = new ConcurrentQueue<(string Method, string Target, string? Authorization)>();
        using var onward = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false });
        await using var proxy = await LoopbackServer.StartAsync(async http =>
        {
            var target = http.Features.Get<IHttpRequestFeature>()!.RawTarget;
            passed.Enqueue((http.Request.Method, target, http.Request.Headers.Authorization.ToString()));
            if (!Uri.TryCreate(target, UriKind.Absolute, out var uri))
            {
                // Not a proxy request: a proxy answers origin-form with 400.
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }

            using var forwarded = new HttpRequestMessage(new HttpMethod(http.Request.Method), uri);
            if (HttpMethods.IsPost(http.Request.Method))
            {
                forwarded.Content = new StreamContent(http.Request.Body);
                forwarded.Content.Headers.TryAddWithoutValidation("Content-Type", http.Request.ContentType);
            }

            foreach (var (name, values) in http.Request.Headers)
            {
                // Hop-by-hop headers stay with this hop (RFC 9110 §7.6.1); the body's own headers travel with the content.
                if (name is not ("Host" or "Content-Type" or "Content-Length" or "Transfer-Encoding" or "Connection" or "Keep-Alive" or "Proxy-Connection"))
                {
                    forwarded.Headers.TryAddWithoutValidation(name, values.ToArray());
                }
            }

            using var answer = await onward.SendAsync(forwarded, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
            http.Response.StatusCode = (int)answer.StatusCode;
            http.Response.ContentType = answer.Content.Headers.ContentType?.ToString();
            await answer.Content.CopyToAsync(http.Response.Body, http.RequestAborted);
        });

        await using var host = gateway.WithWebHostBuilder(b => b.UseSetting("AimlApi:Proxy", proxy.Address));
        var client = host.CreateClient();
        var created = await gateway.CreateAsync(client, Bodies.Minimal(Bodies.V1Standard));
        var finished = await GatewayFactory.WaitUntilFinishedAsync(client, created.GetProperty("id").GetString()!);

        Assert.Equal("succeeded", finished.GetProperty("status").GetString());
        var simulator = gateway.SimulatorAddress;
        var create = Assert.Single(passed, p => p.Method == "POST");
        Assert.Equal($"{simulator}/v2/video/generations", create.Target);
        Assert.Equal($"Bearer {GatewayFactory.UpstreamKey}", create.Authorization);
        Assert.Contains(passed, p => p.Method == "GET" && p.Target.StartsWith($"{simulator}/v2/video/generations?generation_id=", StringComparison.Ordinal));
        // This class's simulator served only this test: every call it saw came through the proxy.
        Assert.Equal(gateway.Simulator.Requests.Count(r => r.Path.StartsWith("/v2/", StringComparison.Ordinal)), passed.Count);
    }
}
