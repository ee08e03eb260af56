using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KlingGateway.Tests.Access;
using KlingGateway.Tests.Lifecycle;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace KlingGateway.Tests.Webhooks;

/// <summary>
/// Webhooks to real loopback receivers that verify them with the StandardWebhooks package: signing and secret rotation,
/// retries after 500s and a timeout with one webhook-id and the order kept, a slow endpoint that holds up no other, 410,
/// callback URLs and their allow-list, refused addresses, a redirect not followed, a large answer not read.
/// </summary>
public sealed class WebhookDeliveryTests : IAsyncLifetime
{
    private readonly List<GatewayFactory> _gateways = [];
    private readonly List<IAsyncDisposable> _receivers = [];

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

    private async Task<WebhookReceiver> ReceiverAsync(params string[] secrets)
    {
        var receiver = await WebhookReceiver.StartAsync(secrets);
        _receivers.Add(receiver);
        return receiver;
    }

    /// <summary>Clients alpha, beta, ops (admin); fast retries; loopback allowed (the receivers are on 127.0.0.1).</summary>
    private Task<GatewayFactory> StartAsync(params (string Key, string? Value)[] settings) => StartAsync(allowLoopback: true, settings);

    private async Task<GatewayFactory> StartAsync(bool allowLoopback, params (string Key, string? Value)[] settings)
    {
        var all = new List<(string, string?)>
        {
            ("Webhooks:FirstRetryDelay", "00:00:00.050"),
            ("Webhooks:MaxRetryDelay", "00:00:00.200"),
            ("Webhooks:Timeout", "00:00:01"),
            ("Videos:PublicBaseUrl", "https://gateway.example.test"),
        };
        if (allowLoopback)
        {
            all.Add(("Webhooks:AllowedAddressRanges:0", "127.0.0.0/8"));
        }

        all.AddRange(settings);
        var gateway = await AccessHosts.StartAsync(AccessHosts.Settings([.. all]));
        _gateways.Add(gateway);
        return gateway;
    }

    private static (string, string?)[] Endpoint(string client, string name, string url, params string[] secrets) =>
    [
        ($"Auth:Clients:{client}:Webhooks:Endpoints:{name}:Url", url),
        .. secrets.Select((secret, i) => ($"Auth:Clients:{client}:Webhooks:Endpoints:{name}:Secrets:{i}", (string?)secret)),
    ];

    private static Task<List<Receipt>> DeliveredAsync(WebhookReceiver receiver, string generationId, string lastEvent = "generation.video_stored") =>
        LifecycleHelpers.WaitForAsync(
            () => Task.FromResult<List<Receipt>?>([.. receiver.Delivered.Where(r => r.GenerationId == generationId)]),
            receipts => receipts.Any(r => r.Type == lastEvent), $"{lastEvent} of {generationId} to be delivered");

    private static async Task<JsonElement> DeliveriesAsync(HttpClient client, string query)
    {
        using var response = await client.GetAsync($"/v1/webhooks/deliveries?{query}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("items").Clone();
    }

    [Fact]
    public async Task EveryEvent_IsSignedAsStandardWebhooksSpecifies_AndVerifiesWithEitherOfTwoRotatingSecrets()
    {
        var oldSecret = WebhookReceiver.NewSecret();
        var newSecret = WebhookReceiver.NewSecret();
        var receiver = await ReceiverAsync(oldSecret, newSecret, WebhookReceiver.NewSecret());
        var gateway = await StartAsync(Endpoint("alpha", "orders", receiver.Url(), oldSecret, newSecret));
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);

        var id = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=0.3,generating=0.3"));
        var receipts = await DeliveredAsync(receiver, id);

        // One signature per secret: the specification's verifier accepts each with the old secret and with the new, and
        // with a secret the gateway never had with neither; the StandardWebhooks package verifies each with the secret
        // listed first (it compares only the first signature of several).
        Assert.All(receipts, r => Assert.Equal([0, 1], r.SpecVerifiedBy));
        Assert.All(receipts, r => Assert.Equal([0], r.VerifiedBy));
        Assert.All(receipts, r => Assert.Equal(2, r.Signature.Split(' ').Count(s => s.StartsWith("v1,", StringComparison.Ordinal))));
        Assert.Equal("generation.queued", receipts[0].Type);
        Assert.Equal("generation.video_stored", receipts[^1].Type);
        Assert.Contains(receipts, r => r.Type == "generation.succeeded");
        foreach (var receipt in receipts)
        {
            var body = receipt.Json;
            Assert.Equal(receipt.Type, body.GetProperty("type").GetString());
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", body.GetProperty("timestamp").GetString()!);
            Assert.StartsWith("msg_", receipt.Id, StringComparison.Ordinal);
        }

        var succeeded = receipts.Single(r => r.Type == "generation.succeeded").Json.GetProperty("data");
        Assert.Equal("succeeded", succeeded.GetProperty("status").GetString());
        Assert.StartsWith($"https://gateway.example.test/v1/generations/{id}/content?token=",
            succeeded.GetProperty("video").GetProperty("url").GetString(), StringComparison.Ordinal);

        // The webhook-id is the delivery's id; the list says each was delivered at the first attempt with a 200.
        var deliveries = await DeliveriesAsync(alpha, $"generation_id={id}");
        Assert.Equal(receipts.Select(r => r.Id).Order(StringComparer.Ordinal),
            deliveries.EnumerateArray().Select(d => d.GetProperty("id").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(deliveries.EnumerateArray(), d =>
        {
            Assert.Equal("delivered", d.GetProperty("state").GetString());
            Assert.Equal(1, d.GetProperty("attempts").GetInt32());
            Assert.Equal(200, d.GetProperty("last_status_code").GetInt32());
            Assert.Equal("orders", d.GetProperty("endpoint").GetString());
        });
    }

    [Fact]
    public async Task AfterTwo500sAndATimeout_TheSameWebhookIdIsSentAgain_AndTheGenerationsLaterEventsWaitForIt()
    {
        var secret = WebhookReceiver.NewSecret();
        var receiver = await ReceiverAsync(secret);
        string? first = null;
        receiver.Answer = async receipt =>
        {
            Interlocked.CompareExchange(ref first, receipt.Id, null);
            if (receipt.Id != first)
            {
                return 200;
            }

            switch (receipt.Attempt)
            {
                case 1 or 2:
                    return 500;
                case 3:
                    // Longer than Webhooks:Timeout: the gateway gives up on this attempt.
                    await Task.Delay(TimeSpan.FromSeconds(2.5));
                    return 200;
                default:
                    return 200;
            }
        };
        var gateway = await StartAsync(Endpoint("alpha", "orders", receiver.Url(), secret));
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);
        using var metrics = new MetricRecorder(gateway.Services.GetRequiredService<IMeterFactory>());

        var id = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=0.2,generating=0.2"));
        var delivered = await DeliveredAsync(receiver, id);

        var firstAttempts = receiver.Arrivals.Where(r => r.Id == first).OrderBy(r => r.Arrival).ToList();
        Assert.True(firstAttempts.Count >= 4, $"{firstAttempts.Count} attempts");
        Assert.All(firstAttempts, r => Assert.Equal("generation.queued", r.Type));
        Assert.All(firstAttempts, r => Assert.True(r.Verified));
        // Nothing later of the generation reached the receiver before its first event was delivered.
        var firstDelivered = firstAttempts.First(r => r.Attempt >= 4).Arrival;
        Assert.All(receiver.Arrivals.Where(r => r.Id != first && r.GenerationId == id), r => Assert.True(r.Arrival > firstDelivered));
        // And the events arrived in the order they happened, each delivered once.
        Assert.Equal("generation.queued", delivered[0].Type);
        Assert.Equal("generation.video_stored", delivered[^1].Type);
        Assert.Equal(delivered.Count, delivered.Select(r => r.Id).Distinct().Count());

        var listed = (await DeliveriesAsync(alpha, $"generation_id={id}")).EnumerateArray().Single(d => d.GetProperty("id").GetString() == first);
        Assert.Equal("delivered", listed.GetProperty("state").GetString());
        Assert.True(listed.GetProperty("attempts").GetInt32() >= 4);
        Assert.True(metrics.Sum("kling_gateway.webhook.deliveries", ("outcome", "retry")) >= 3);
        Assert.True(metrics.Sum("kling_gateway.webhook.deliveries", ("outcome", "delivered")) >= delivered.Count);
    }

    [Fact]
    public async Task OneSlowEndpoint_HoldsUpNoOther()
    {
        var secret = WebhookReceiver.NewSecret();
        var slow = await ReceiverAsync(secret);
        var fast = await ReceiverAsync(secret);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        slow.Answer = async _ =>
        {
            await release.Task;
            return 200;
        };
        var gateway = await StartAsync([
            .. Endpoint("alpha", "slow", slow.Url(), secret), .. Endpoint("alpha", "fast", fast.Url(), secret),
            ("Webhooks:Timeout", "00:01:00"), ("Webhooks:MaxConcurrentDeliveries", "4"), ("Webhooks:MaxConcurrentPerEndpoint", "2")]);
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);

        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=0.2,generating=0.2")));
        }

        foreach (var id in ids)
        {
            await DeliveredAsync(fast, id);
        }

        // Every event reached the fast endpoint while the slow one has yet to answer its first, and holds no more than
        // its own two slots.
        Assert.Empty(slow.Delivered);
        Assert.InRange(slow.Arrived, 1, 2);
        release.SetResult();
    }

    [Fact]
    public async Task Gone_DisablesTheEndpoint_AndARedeliveryEnablesItAgain()
    {
        var secret = WebhookReceiver.NewSecret();
        var receiver = await ReceiverAsync(secret);
        var gone = true;
        receiver.Answer = _ => Task.FromResult(Volatile.Read(ref gone) ? 410 : 200);
        var gateway = await StartAsync(Endpoint("alpha", "orders", receiver.Url(), secret));
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);
        using var metrics = new MetricRecorder(gateway.Services.GetRequiredService<IMeterFactory>());

        var first = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=0.2,generating=0.2"));
        var answered410 = await LifecycleHelpers.WaitForAsync(
            async () => (await DeliveriesAsync(alpha, $"generation_id={first}&state=failed")).EnumerateArray()
                .FirstOrDefault(d => d.TryGetProperty("last_status_code", out var s) && s.GetInt32() == 410) is { ValueKind: JsonValueKind.Object } d ? (JsonElement?)d : null,
            d => true, "a delivery answered 410");
        await LifecycleHelpers.LogWithAsync(gateway, "\"EventId\":{\"Id\":9104");
        Assert.Equal(1, metrics.Sum("kling_gateway.webhook.endpoints_disabled"));

        // While disabled, the generation's other events are given up without a request.
        Volatile.Write(ref gone, false);
        await LifecycleHelpers.WaitForAsync(() => DeliveriesAsync(alpha, $"generation_id={first}"),
            list => list.EnumerateArray().Any(d => d.GetProperty("event_type").GetString() == "generation.video_stored")
                && list.EnumerateArray().All(d => d.GetProperty("state").GetString() == "failed"), "every delivery of the generation given up");
        Assert.Single(receiver.Receipts);

        // A redelivery says the receiver is back: this one goes again, with its id, and later events are delivered.
        var id = answered410!.Value.GetProperty("id").GetString();
        using var redeliver = await alpha.PostAsync($"/v1/webhooks/deliveries/{id}/redeliver", null);
        Assert.Equal(HttpStatusCode.Accepted, redeliver.StatusCode);
        Assert.Equal("pending", (await redeliver.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        await LifecycleHelpers.WaitForAsync(() => Task.FromResult<List<Receipt>?>(receiver.Delivered), r => r.Any(x => x.Id == id), "the redelivery");
        var next = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=0.2,generating=0.2"));
        await DeliveredAsync(receiver, next);
    }

    [Fact]
    public async Task ACallbackUrlOnItsClientsAllowList_GetsTheGenerationsEvents_AnyOtherIsRefusedBeforeAnythingStarts()
    {
        var secret = WebhookReceiver.NewSecret();
        var receiver = await ReceiverAsync(secret);
        var gateway = await StartAsync(
            ("Auth:Clients:alpha:Webhooks:Callbacks:AllowedUrls:0", receiver.Url("/orders/")),
            ("Auth:Clients:alpha:Webhooks:Callbacks:Secrets:0", secret),
            ("Auth:Clients:alpha:Webhooks:Callbacks:Events:0", "generation.succeeded"));
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);
        var beta = AccessHosts.Client(gateway, AccessHosts.BetaKey);

        using var created = await PostWithCallbackAsync(alpha, receiver.Url("/orders/77?token=s3cr3t"));
        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var receipt = Assert.Single(await DeliveredAsync(receiver, id, "generation.succeeded"));
        Assert.Equal("/orders/77?token=s3cr3t", receipt.Path);
        Assert.True(receipt.Verified);
        // Its delivery is listed without the URL's query, which may carry a token.
        var listed = (await DeliveriesAsync(alpha, $"generation_id={id}")).EnumerateArray().Single();
        Assert.Equal(receiver.Url("/orders/77"), listed.GetProperty("url").GetString());
        Assert.False(listed.TryGetProperty("endpoint", out _));

        var before = (await alpha.GetFromJsonAsync<JsonElement>("/v1/generations?limit=100")).GetProperty("items").GetArrayLength();
        foreach (var refused in new[] { receiver.Url("/other"), receiver.Url("/ordersx"), "ftp://127.0.0.1/orders/", "/orders/relative", "not a url" })
        {
            using var response = await PostWithCallbackAsync(alpha, refused);
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_webhook_url");
        }

        using (var twice = await PostWithCallbackAsync(alpha, receiver.Url("/orders/1"), receiver.Url("/orders/2")))
        {
            await AssertProblemAsync(twice, HttpStatusCode.BadRequest, "invalid_webhook_url");
        }

        using (var noList = await PostWithCallbackAsync(beta, receiver.Url("/orders/1")))
        {
            await AssertProblemAsync(noList, HttpStatusCode.BadRequest, "invalid_webhook_url");
        }

        Assert.Equal(before, (await alpha.GetFromJsonAsync<JsonElement>("/v1/generations?limit=100")).GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task LoopbackLinkLocalAndMetadataAddresses_AreRefusedAfterResolution_WithoutAConnection()
    {
        var secret = WebhookReceiver.NewSecret();
        var receiver = await ReceiverAsync(secret);
        var port = new Uri(receiver.Url()).Port;
        var gateway = await StartAsync(allowLoopback: false, [
            .. Endpoint("alpha", "direct", receiver.Url(), secret),
            .. Endpoint("alpha", "named", $"http://localhost:{port}/hook", secret),
            .. Endpoint("alpha", "metadata", "http://169.254.169.254/latest/meta-data/", secret),
            .. Endpoint("alpha", "aws6", "http://[fd00:ec2::254]/latest/", secret)]);
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);
        using var metrics = new MetricRecorder(gateway.Services.GetRequiredService<IMeterFactory>());

        var id = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=3600"));
        var queued = await LifecycleHelpers.WaitForAsync(() => DeliveriesAsync(alpha, $"generation_id={id}"),
            list => list.GetArrayLength() >= 8 && list.EnumerateArray().All(d => d.GetProperty("state").GetString() == "failed"),
            "every delivery refused");

        Assert.Empty(receiver.Receipts);
        foreach (var delivery in queued.EnumerateArray())
        {
            var error = delivery.GetProperty("last_error").GetString()!;
            Assert.StartsWith("Refused:", error, StringComparison.Ordinal);
            Assert.Equal(1, delivery.GetProperty("attempts").GetInt32());
            var expected = delivery.GetProperty("endpoint").GetString() switch
            {
                "direct" or "named" => "loopback",
                "metadata" => "link-local",
                _ => "cloud metadata",
            };
            Assert.Contains(expected, error, StringComparison.Ordinal);
        }

        Assert.True(metrics.Sum("kling_gateway.webhook.deliveries", ("outcome", "refused")) >= 8);
    }

    [Fact]
    public async Task ARedirect_IsNotFollowed_AndCountsAsAFailedAttempt()
    {
        var secret = WebhookReceiver.NewSecret();
        var target = await ReceiverAsync(secret);
        await using var redirecting = await LoopbackServer.StartAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers.Location = target.Url();
            return Task.CompletedTask;
        });
        var gateway = await StartAsync(Endpoint("alpha", "moved", redirecting.Address + "/hook", secret));
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);

        var id = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=3600"));
        // The generation's first event: its second waits behind it.
        var delivery = await LifecycleHelpers.WaitForAsync(
            async () => (await DeliveriesAsync(alpha, $"generation_id={id}")).EnumerateArray().LastOrDefault() is { ValueKind: JsonValueKind.Object } d ? (JsonElement?)d : null,
            d => d!.Value.GetProperty("attempts").GetInt32() >= 3, "three attempts");

        Assert.Equal("pending", delivery!.Value.GetProperty("state").GetString());
        Assert.Equal(307, delivery.Value.GetProperty("last_status_code").GetInt32());
        Assert.Empty(target.Receipts);
    }

    [Fact]
    public async Task AHugeAnswer_IsReadOnlyUpToASmallCap()
    {
        var secret = WebhookReceiver.NewSecret();
        await using var chatty = await ChattyReceiver.StartAsync();
        var gateway = await StartAsync([.. Endpoint("alpha", "chatty", chatty.Url, secret), ("Auth:Clients:alpha:Webhooks:Endpoints:chatty:Events:0", "generation.queued")]);
        var alpha = AccessHosts.Client(gateway, AccessHosts.AlphaKey);

        var id = await AccessHosts.CreatedIdAsync(alpha, AccessHosts.Body(directives: "queued=3600"));
        var deliveries = await LifecycleHelpers.WaitForAsync(() => DeliveriesAsync(alpha, $"generation_id={id}"),
            list => list.GetArrayLength() >= 2 && list.EnumerateArray().All(d => d.GetProperty("state").GetString() == "delivered"),
            "the deliveries to be delivered");
        await LifecycleHelpers.WaitForAsync(() => Task.FromResult<int?>(chatty.Closed), closed => closed >= 2, "both connections to be dropped");

        Assert.All(deliveries.EnumerateArray(), d => Assert.Equal(200, d.GetProperty("last_status_code").GetInt32()));
        // Each answer promised a gigabyte; the gateway read a few kilobytes and dropped the connection, so what the receiver
        // got out is what the sockets' buffers took.
        Assert.All(chatty.Written, bytes => Assert.True(bytes < 32L * 1024 * 1024, $"{bytes} bytes were taken"));
    }

    private static async Task<HttpResponseMessage> PostWithCallbackAsync(HttpClient client, params string[] callbacks)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generations") { Content = JsonContent.Create(AccessHosts.Body(directives: "queued=0.2,generating=0.2")) };
        foreach (var callback in callbacks)
        {
            request.Headers.TryAddWithoutValidation("Webhook-Url", callback);
        }

        return await client.SendAsync(request);
    }

    internal static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(code, JsonDocument.Parse(text).RootElement.GetProperty("code").GetString());
    }

}

/// <summary>
/// A receiver on a raw loopback socket that answers 200 with a body of a gigabyte and writes it until the connection is
/// dropped, counting what the socket took: a byte count Kestrel could not give (its writes to a closed connection are
/// quietly dropped).
/// </summary>
internal sealed class ChattyReceiver : IAsyncDisposable
{
    private readonly System.Net.Sockets.TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;
    private int _closed;

    private ChattyReceiver(System.Net.Sockets.TcpListener listener)
    {
        _listener = listener;
        _serving = Task.Run(ServeAsync);
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hook";

    public System.Collections.Concurrent.ConcurrentBag<long> Written { get; } = [];

    public int Closed => Volatile.Read(ref _closed);

    public static Task<ChattyReceiver> StartAsync()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return Task.FromResult(new ChattyReceiver(listener));
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            System.Net.Sockets.Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(socket));
        }
    }

    private async Task AnswerAsync(System.Net.Sockets.Socket socket)
    {
        using (socket)
        {
            long written = 0;
            try
            {
                await ReadRequestAsync(socket);
                await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1073741824\r\n\r\n"u8.ToArray(), _stop.Token);
                var chunk = new byte[64 * 1024];
                while (written < 1024L * 1024 * 1024)
                {
                    written += await socket.SendAsync(chunk, _stop.Token);
                }
            }
            catch (Exception exception) when (exception is System.Net.Sockets.SocketException or OperationCanceledException or IOException)
            {
                // Dropped by the gateway (or the test ends).
            }
            finally
            {
                Written.Add(written);
                Interlocked.Increment(ref _closed);
            }
        }
    }

    private async Task ReadRequestAsync(System.Net.Sockets.Socket socket)
    {
        var received = new List<byte>();
        var buffer = new byte[8192];
        int headerEnd;
        while ((headerEnd = IndexOf(received, "\r\n\r\n"u8.ToArray())) < 0)
        {
            var read = await socket.ReceiveAsync(buffer, _stop.Token);
            if (read == 0)
            {
                throw new IOException("The request ended early.");
            }

            received.AddRange(buffer.AsSpan(0, read).ToArray());
        }

        var head = System.Text.Encoding.ASCII.GetString([.. received.Take(headerEnd)]);
        var length = head.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        var body = received.Count - headerEnd - 4;
        while (body < length)
        {
            body += await socket.ReceiveAsync(buffer, _stop.Token);
        }
    }

    private static int IndexOf(List<byte> bytes, byte[] pattern)
    {
        for (var i = 0; i + pattern.Length <= bytes.Count; i++)
        {
            if (pattern.Select((b, j) => bytes[i + j] == b).All(x => x))
            {
                return i;
            }
        }

        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _serving;
        _stop.Dispose();
    }
}
