using System.Globalization;

namespace KlingGateway.Infrastructure;

/// <summary>
/// <c>KlingGateway --probe [base-url]</c>: GETs the gateway's own <c>/health/ready</c> and exits 0 when it answers
/// 2xx, 1 otherwise. It runs before any host is built, so it is cheap enough for a container health check, and it
/// needs no shell or curl, which the chiseled runtime image does not have.
/// </summary>
public static class Probe
{
    public const string Argument = "--probe";
    public const string ReadyPath = "/health/ready";

    public static bool IsRequested(string[] args) => args is [Argument, ..];

    /// <summary>Probes <c>args[1]</c>, or the first port of <c>ASPNETCORE_HTTP_PORTS</c> (8080 in the .NET images) on loopback.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        var given = args.Length > 1 ? args[1] : DefaultBaseUrl(Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS"));
        if (!Uri.TryCreate(given, UriKind.Absolute, out var baseUrl) || (baseUrl.Scheme != Uri.UriSchemeHttp && baseUrl.Scheme != Uri.UriSchemeHttps))
        {
            await output.WriteLineAsync($"probe: '{given}' is not an absolute http(s) URL");
            return 1;
        }

        var target = new Uri(baseUrl, ReadyPath);
        // Never through HTTP_PROXY: the probe asks this container's own port.
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            Timeout = TimeSpan.FromSeconds(5),
        };
        try
        {
            using var response = await http.GetAsync(target);
            var status = (int)response.StatusCode;
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"probe: {target} answered {status}"));
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            await output.WriteLineAsync($"probe: {target} did not answer ({exception.GetType().Name})");
            return 1;
        }
    }

    internal static string DefaultBaseUrl(string? httpPorts)
    {
        var first = httpPorts?.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        return $"http://127.0.0.1:{(int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var port) ? port : 8080)}";
    }
}
