using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Tests.Access;
using KlingGateway.Tests.Lifecycle;
using KlingGateway.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace KlingGateway.Tests.Webhooks;

/// <summary>
/// The deliveries routes under the ownership rules, redelivery, the secrets never shown, the settings refused at start,
/// and the address policy's table.
/// </summary>
public sealed class WebhookSettingsAndApiTests : IAsyncLifetime
{
    private readonly List<GatewayFactory> _gateways = [];
    private readonly List<WebhookReceiver> _receivers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways)
        {
            await AccessHosts.StopAsync(gateway);
        }

        foreach (var receiver in _receivers)
        {
            await receiver.DisposeAsync();
        }
    }

    [Fact]
    public async Task Deliveries_FollowTheOwnershipRules_FilterAndPage_AndOnlyAFinishedOneIsRedelivered()
    {
        var secret = WebhookReceiver.NewSecret();
        var receiver = await WebhookReceiver.StartAsync(secret);
        _receivers.Add(receiver);
        // beta's receiver always fails, and its retries are far apart: its deliveries stay pending.
        receiver.Answer = r => Task.FromResult(r.Path.StartsWith("/beta", StringComparison.Ordinal) ? 500 : 200);
        var gateway = await AccessHosts.StartAsync(AccessHosts.Settings(
            ("Webhooks:AllowedAddressRanges:0", "127.0.0.0/8"),
            ("Webhooks:FirstRetryDelay", "00:10:00"),
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Url", receiver.Url("/alpha")),
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0", secret),
            ("Auth:Clients:beta:Webhooks:Endpoints:main:Url", receiver.Url("/beta")),
            ("Auth:Clients:beta:Webhooks:Endpoints:main:Secrets:0", secret)));
        _gateways.Add(gateway);
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);
        var beta = AccessHosts.Client(gateway, AccessHosts.BetaKey);
        var admin = AccessHosts.Client(gateway, AccessHosts.AdminKey);

        using var metrics = new MetricRecorder(gateway.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var alphaId = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=3600"));
        var betaId = await AccessHosts.CreatedIdAsync(beta, AccessHosts.Body(directives: "queued=3600"));
        var alphaDeliveries = await LifecycleHelpers.WaitForAsync<List<JsonElement>>(async () => await ItemsAsync(alpha, "state=delivered"), items => items.Count >= 2, "alpha's two deliveries");
        var betaPending = await LifecycleHelpers.WaitForAsync<List<JsonElement>>(async () => await ItemsAsync(beta, "state=pending"),
            items => items.Count >= 2 && items.Any(i => i.GetProperty("attempts").GetInt32() == 1), "beta's first attempt");

        // The outbox's depth is beta's two, read from the ledger every few seconds; alpha's went out in well under a second.
        await LifecycleHelpers.WaitForAsync(() => Task.FromResult<double?>(metrics.Observe("kling_gateway.webhook.outbox_depth")),
            depth => depth == 2, "the outbox depth gauge to show beta's two");
        Assert.True(metrics.Sum("kling_gateway.webhook.delivery_latency") > 0);

        // Each caller sees its own; an admin sees all; another's is the same 404 as an unknown id.
        Assert.All(alphaDeliveries, d => Assert.Equal(alphaId, d.GetProperty("generation_id").GetString()));
        Assert.All(betaPending, d => Assert.Equal(betaId, d.GetProperty("generation_id").GetString()));
        Assert.Equal(4, (await ItemsAsync(admin, "")).Count);
        var alphaDelivery = alphaDeliveries[0].GetProperty("id").GetString()!;
        foreach (var path in new[] { $"/v1/webhooks/deliveries/{alphaDelivery}", "/v1/webhooks/deliveries/msg_AAAAAAAAAAAAAAAAAAAAAA", "/v1/webhooks/deliveries/junk" })
        {
            using var response = await beta.GetAsync(path);
            await WebhookDeliveryTests.AssertProblemAsync(response, HttpStatusCode.NotFound, "webhook_delivery_not_found");
        }

        using (var redeliverOthers = await beta.PostAsync($"/v1/webhooks/deliveries/{alphaDelivery}/redeliver", null))
        {
            await WebhookDeliveryTests.AssertProblemAsync(redeliverOthers, HttpStatusCode.NotFound, "webhook_delivery_not_found");
        }

        // Filters and pages.
        Assert.Equal(2, (await ItemsAsync(admin, $"generation_id={betaId}")).Count);
        Assert.Empty(await ItemsAsync(alpha, "state=failed"));
        var page = await admin.GetFromJsonAsync<JsonElement>("/v1/webhooks/deliveries?limit=3");
        Assert.Equal(3, page.GetProperty("items").GetArrayLength());
        var rest = await admin.GetFromJsonAsync<JsonElement>($"/v1/webhooks/deliveries?limit=3&cursor={page.GetProperty("next_cursor").GetString()}");
        Assert.Equal(1, rest.GetProperty("items").GetArrayLength());
        Assert.False(rest.TryGetProperty("next_cursor", out _));
        foreach (var query in new[] { "state=sent", "generation_id=nope", "limit=0", "limit=101", "limit=abc", "limit=1e400", "limit=%FF", "limit=1&limit=2", "cursor=%%%" })
        {
            using var response = await alpha.GetAsync($"/v1/webhooks/deliveries?{query}");
            await WebhookDeliveryTests.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_query");
        }

        // A pending delivery is not redelivered (it will be attempted anyway); a delivered one is, with the same webhook-id.
        using (var pending = await beta.PostAsync($"/v1/webhooks/deliveries/{betaPending[0].GetProperty("id").GetString()}/redeliver", null))
        {
            await WebhookDeliveryTests.AssertProblemAsync(pending, HttpStatusCode.Conflict, "webhook_delivery_pending");
        }

        using var redeliver = await alpha.PostAsync($"/v1/webhooks/deliveries/{alphaDelivery}/redeliver", null);
        Assert.Equal(HttpStatusCode.Accepted, redeliver.StatusCode);
        Assert.Equal($"/v1/webhooks/deliveries/{alphaDelivery}", redeliver.Headers.Location!.OriginalString);
        await LifecycleHelpers.WaitForAsync(() => Task.FromResult<List<Receipt>?>(receiver.Delivered), r => r.Count(x => x.Id == alphaDelivery) == 2,
            "the same webhook-id twice");
        var again = await alpha.GetFromJsonAsync<JsonElement>($"/v1/webhooks/deliveries/{alphaDelivery}");
        Assert.Equal("delivered", again.GetProperty("state").GetString());
        Assert.Equal(2, again.GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task Secrets_AppearInNoLogNoAnswerAndNoOpenApiDocument()
    {
        var endpointSecret = WebhookReceiver.NewSecret();
        var callbackSecret = WebhookReceiver.NewSecret();
        var receiver = await WebhookReceiver.StartAsync(endpointSecret);
        _receivers.Add(receiver);
        var gateway = await AccessHosts.StartAsync(AccessHosts.Settings(
            ("Webhooks:AllowedAddressRanges:0", "127.0.0.0/8"),
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Url", receiver.Url()),
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0", endpointSecret),
            ("Auth:Clients:alpha:Webhooks:Callbacks:AllowedUrls:0", receiver.Url("/cb/")),
            ("Auth:Clients:alpha:Webhooks:Callbacks:Secrets:0", callbackSecret)));
        _gateways.Add(gateway);
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);
        var id = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=0.2,generating=0.2"));
        await LifecycleHelpers.WaitForAsync(() => Task.FromResult<List<Receipt>?>(receiver.Delivered),
            r => r.Any(x => x.GenerationId == id && x.Type == "generation.video_stored"), "the last event delivered");

        var seen = string.Join("\n",
            gateway.ReadLog(),
            await alpha.GetStringAsync("/v1/webhooks/deliveries"),
            await alpha.GetStringAsync($"/v1/generations/{id}"),
            await alpha.GetStringAsync("/v1/usage"),
            await alpha.GetStringAsync("/swagger/v1/swagger.json"));
        foreach (var secret in new[] { endpointSecret, callbackSecret })
        {
            Assert.DoesNotContain(secret["whsec_".Length..], seen, StringComparison.Ordinal);
        }
    }

    public static TheoryData<string, string?, string> UnworkableSettings() => new()
    {
        { "Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0", "whsec_" + Convert.ToBase64String(new byte[16]), "Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0" },
        { "Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0", "plain-text-secret-that-is-long-enough", "Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0" },
        { "Auth:Clients:alpha:Webhooks:Endpoints:main:Url", "ftp://hooks.example.com/kling", "Auth:Clients:alpha:Webhooks:Endpoints:main:Url" },
        { "Auth:Clients:alpha:Webhooks:Endpoints:main:Url", "/relative/hook", "Auth:Clients:alpha:Webhooks:Endpoints:main:Url" },
        { "Auth:Clients:alpha:Webhooks:Endpoints:main:Url", "https://user:pass@hooks.example.com/", "Auth:Clients:alpha:Webhooks:Endpoints:main:Url" },
        { "Auth:Clients:alpha:Webhooks:Endpoints:main:Events:0", "generation.finished", "Auth:Clients:alpha:Webhooks:Endpoints:main:Events:0" },
        { "Auth:Clients:alpha:Webhooks:Callbacks:Secrets:0", WebhookReceiver.NewSecret(), "Auth:Clients:alpha:Webhooks:Callbacks:AllowedUrls" },
        { "Webhooks:Timeout", "00:00:00", "Webhooks:Timeout" },
        { "Webhooks:RetryFor", "30.00:00:00", "Webhooks:RetryFor" },
        { "Webhooks:MaxRetryDelay", "00:00:01", "Webhooks:MaxRetryDelay" },
        { "Webhooks:MaxConcurrentPerEndpoint", "5000", "Webhooks:MaxConcurrentPerEndpoint" },
        { "Webhooks:AllowedAddressRanges:0", "127.0.0.1/99", "Webhooks:AllowedAddressRanges:0" },
        { "Events:HeartbeatInterval", "00:00:00", "Events:HeartbeatInterval" },
        { "Events:MaxSubscribers", "0", "Events:MaxSubscribers" },
        { "Events:MaxSubscribersPerClient", "20000", "Events:MaxSubscribersPerClient" },
        { "Events:Retention", "00:00:01", "Events:Retention" },
        { "Events:ReconnectDelay", "01:00:00", "Events:ReconnectDelay" },
    };

    [Theory]
    [MemberData(nameof(UnworkableSettings))]
    public async Task AnUnworkableSetting_StopsTheStart_NamingItself_AndNeverASecret(string key, string? value, string named)
    {
        var settings = AccessHosts.Settings(
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Url", "https://hooks.example.com/kling"),
            ("Auth:Clients:alpha:Webhooks:Endpoints:main:Secrets:0", "whsec_" + Convert.ToBase64String(new byte[32])),
            (key, value));
        var gateway = new GatewayFactory(settings);
        await gateway.InitializeAsync();
        _gateways.Add(gateway);

        var failure = Record.Exception(() => gateway.CreateClient());

        Assert.NotNull(failure);
        Assert.Contains(named, failure.ToString(), StringComparison.Ordinal);
        if (key.Contains("Secrets", StringComparison.Ordinal) && value is not null)
        {
            Assert.DoesNotContain(value, failure.ToString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("127.0.0.1", false, "loopback")]
    [InlineData("127.8.9.10", false, "loopback")]
    [InlineData("::1", false, "loopback")]
    [InlineData("::ffff:127.0.0.1", false, "loopback")]
    [InlineData("169.254.169.254", false, "link-local")]
    [InlineData("169.254.170.2", false, "link-local")]
    [InlineData("fe80::1", false, "link-local")]
    [InlineData("fd00:ec2::254", false, "cloud metadata")]
    [InlineData("100.100.100.200", false, "cloud metadata")]
    [InlineData("168.63.129.16", false, "cloud metadata")]
    [InlineData("0.0.0.0", false, "this-network")]
    [InlineData("::", false, "unspecified")]
    [InlineData("224.0.0.1", false, "multicast")]
    [InlineData("255.255.255.255", false, "reserved")]
    [InlineData("10.1.2.3", true, "")]
    [InlineData("192.168.1.10", true, "")]
    [InlineData("fd12:3456::1", true, "")]
    [InlineData("93.184.215.14", true, "")]
    [InlineData("2606:4700::1111", true, "")]
    public void TheAddressPolicy_RefusesWhatAWebhookMustNeverReach(string address, bool allowed, string reason)
    {
        var policy = new WebhookAddressPolicy(Options.Create(new WebhookOptions()));

        Assert.Equal(allowed, policy.IsAllowed(IPAddress.Parse(address), out var why));
        Assert.Contains(reason, why, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.20.0.5", false)]
    [InlineData("100.64.1.1", false)]
    [InlineData("fd12:3456::1", false)]
    [InlineData("127.0.0.1", true)]
    [InlineData("93.184.215.14", true)]
    public void RefusingPrivateAddresses_AndAllowingARange_AreSettings(string address, bool allowed)
    {
        var policy = new WebhookAddressPolicy(Options.Create(new WebhookOptions
        {
            RefusePrivateAddresses = true,
            AllowedAddressRanges = ["127.0.0.0/8"],
        }));

        Assert.Equal(allowed, policy.IsAllowed(IPAddress.Parse(address), out _));
    }

    private static async Task<List<JsonElement>> ItemsAsync(HttpClient client, string query) =>
        [.. (await client.GetFromJsonAsync<JsonElement>($"/v1/webhooks/deliveries?{query}")).GetProperty("items").EnumerateArray()];
}
