using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using KlingGateway.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace KlingGateway.Tests.Playground;

/// <summary>
/// Where the playground is served and what it may reach: off in Production unless turned on, only the gateway's
/// own origin in its files and its policy, and nothing outside its folder.
/// </summary>
public sealed partial class PlaygroundHostingTests
{
    private static readonly string PageFolder = Path.Combine(Repository.Root, "src", "KlingGateway", "wwwroot", "playground");

    private static GatewayFactory Gateway(string environment, bool? enabled, IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>(more ?? new Dictionary<string, string?>()) { ["environment"] = environment };
        if (enabled is { } on)
        {
            settings["Playground:Enabled"] = on ? "true" : "false";
        }

        return new GatewayFactory(settings);
    }

    [Theory]
    [InlineData("/playground")]
    [InlineData("/playground/")]
    [InlineData("/playground/index.html")]
    [InlineData("/playground/app.js")]
    [InlineData("/playground/playground.css")]
    public async Task Production_WithoutTheSetting_AnswersNotFound(string path)
    {
        await using var gateway = Gateway("Production", enabled: null);
        await ((IAsyncLifetime)gateway).InitializeAsync();
        var client = gateway.CreateClient(new() { AllowAutoRedirect = false });

        var response = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(ProblemCatalog.RouteNotFound.Code, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString());
        Assert.False(response.Headers.Contains("Content-Security-Policy"));
        var home = await client.GetAsync("/");
        Assert.Equal("/swagger", home.Headers.Location?.OriginalString);
        Assert.DoesNotContain("/playground", await client.GetStringAsync("/swagger/v1/swagger.json"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Development_ServesItByDefault_AndTheSettingTurnsItOff()
    {
        await using (var on = Gateway("Development", enabled: null))
        {
            await ((IAsyncLifetime)on).InitializeAsync();
            var client = on.CreateClient(new() { AllowAutoRedirect = false });
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/playground")).StatusCode);
            Assert.Equal("/playground", (await client.GetAsync("/")).Headers.Location?.OriginalString);
        }

        await using var off = Gateway("Development", enabled: false);
        await ((IAsyncLifetime)off).InitializeAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await off.CreateClient().GetAsync("/playground")).StatusCode);
    }

    [Fact]
    public async Task Production_WithTheSetting_ServesEveryFileWithAPolicyThatAllowsOnlyTheGateway()
    {
        await using var gateway = Gateway("Production", enabled: true);
        await ((IAsyncLifetime)gateway).InitializeAsync();
        var client = gateway.CreateClient(new() { AllowAutoRedirect = false });
        var expectedPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
                             "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

        var files = Directory.GetFiles(PageFolder).Select(Path.GetFileName).ToList();
        Assert.Contains("index.html", files);
        Assert.Contains("app.js", files);
        foreach (var path in files.Select(f => $"/playground/{f}").Append("/playground"))
        {
            var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(expectedPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
            Assert.True(response.Headers.CacheControl?.NoCache, $"{path} is not revalidated");
            var text = await response.Content.ReadAsStringAsync();
            Assert.Empty(ElsewhereReferences(text));

            // Revalidated, not downloaded again.
            using var again = new HttpRequestMessage(HttpMethod.Get, path);
            again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
            Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(again)).StatusCode);
        }

        Assert.Equal("text/html", (await client.GetAsync("/playground")).Content.Headers.ContentType?.MediaType);
        Assert.Equal("text/javascript", (await client.GetAsync("/playground/app.js")).Content.Headers.ContentType?.MediaType);
        Assert.Equal("/playground", (await client.GetAsync("/")).Headers.Location?.OriginalString);
        var document = JsonDocument.Parse(await client.GetStringAsync("/swagger/v1/swagger.json")).RootElement;
        Assert.Contains("[playground](/playground)", document.GetProperty("info").GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PageFiles_ReferenceNoOtherOrigin()
    {
        // Every URL a file could load or call: src/href/action attributes, CSS url() and @import, JS imports, and any
        // quoted http(s) URL (fetch, new URL, a string later used as one). Only relative and same-origin paths pass.
        var found = Directory.GetFiles(PageFolder).SelectMany(f => ElsewhereReferences(File.ReadAllText(f)).Select(r => $"{Path.GetFileName(f)}: {r}")).ToList();

        Assert.Empty(found);
        // The scan itself finds what it is meant to find.
        Assert.Equal(4, ElsewhereReferences("""<script src="https://cdn.example/x.js"></script> a{background:url(//cdn.example/i.png)} import x from 'https://esm.sh/x'; fetch("http://other:8080/")""").Count);
    }

    [Fact]
    public async Task PathsOutsideThePageFiles_AreNeverServed()
    {
        await using var gateway = Gateway("Production", enabled: true);
        await ((IAsyncLifetime)gateway).InitializeAsync();
        gateway.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        gateway.StartServer();
        var address = new Uri(gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        string[] paths =
        [
            "/playground/../appsettings.json", "/playground/%2e%2e/appsettings.json", "/playground/..%2fappsettings.json",
            "/playground/%2e%2e%2f%2e%2e%2fappsettings.json", "/playground/..%5c..%5cappsettings.json", "/playground/..\\..\\appsettings.json",
            "/playground/%2e%2e/%2e%2e/KlingGateway.dll", "/playground//etc/passwd", "/playground/index.html%00.js", "/playground/%00",
            "/playground/./../Program.cs", "/playground/app.js/..%2f..%2f..%2fappsettings.json",
        ];

        foreach (var path in paths)
        {
            // Sent byte for byte (an HttpClient would clean the path up first).
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(address.Host, address.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {address.Authority}\r\nConnection: close\r\n\r\n"));
            var answer = await new StreamReader(stream, Encoding.UTF8).ReadToEndAsync();

            var status = int.Parse(answer.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(status is 400 or 404, $"{path} answered {status}");
            Assert.DoesNotContain("AimlApi", answer, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TurnedOnWithoutItsFiles_TheStartFailsNamingTheSetting()
    {
        var empty = Directory.CreateTempSubdirectory("kling-empty-webroot-").FullName;
        await using var gateway = Gateway("Production", enabled: true, new Dictionary<string, string?> { ["webroot"] = empty });
        await ((IAsyncLifetime)gateway).InitializeAsync();

        var failure = Assert.ThrowsAny<Exception>(() => gateway.CreateClient());

        var message = failure is AggregateException aggregate ? aggregate.Flatten().InnerExceptions[0].Message : failure.Message;
        Assert.Contains("Playground:Enabled", message, StringComparison.Ordinal);
        Directory.Delete(empty);
    }

    /// <summary>Every absolute or protocol-relative URL in the text whose origin is not this one.</summary>
    private static List<string> ElsewhereReferences(string text) =>
    [
        .. ReferencePattern().Matches(text).Select(m => m.Groups["url"].Value)
            // XML namespace names are identifiers, never fetched (an SVG's xmlns, createElementNS).
            .Where(url => url != "http://www.w3.org/2000/svg"),
    ];

    [GeneratedRegex("""(?:(?:src|href|action|poster|srcset)\s*=\s*["']?|url\(\s*["']?|@import\s+["']|from\s+["']|import\(\s*["']|["'`])(?<url>(?:https?:)?//[^"'`\s)]+)""", RegexOptions.IgnoreCase)]
    private static partial Regex ReferencePattern();
}
