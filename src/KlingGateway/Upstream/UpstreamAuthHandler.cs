using System.Net.Http.Headers;

namespace KlingGateway.Upstream;

/// <summary>
/// Attaches the server-held key to every upstream call, always overwriting whatever credential a request
/// carries, so a caller's own Authorization can never reach the upstream.
/// </summary>
internal sealed class UpstreamAuthHandler(UpstreamTarget target) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        await target.Ready.WaitAsync(cancellationToken);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", target.ApiKey);
        return await base.SendAsync(request, cancellationToken);
    }
}
