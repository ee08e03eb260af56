using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace KlingGateway.Tests.Webhooks;

/// <summary>One request a receiver got.</summary>
/// <param name="Path">The path (and query) it was posted to.</param>
/// <param name="Id">Its <c>webhook-id</c>.</param>
/// <param name="Attempt">How many requests with this id the receiver had got, this one included.</param>
/// <param name="Type">The body's <c>type</c>.</param>
/// <param name="GenerationId">The body's <c>data.id</c>.</param>
/// <param name="Verified">Whether the StandardWebhooks library verified it with the receiver's secret.</param>
/// <param name="Signature">The <c>webhook-signature</c> header as sent.</param>
/// <param name="Body">The body as sent.</param>
/// <param name="Answered">The status the receiver answered (0 when it did not answer in time for the sender).</param>
/// <param name="Arrival">The order requests arrived in (1, 2, ...), across ids.</param>
internal sealed record Receipt(
    string Path, string Id, int Attempt, string Type, string GenerationId, bool Verified, string Signature, string Body, int Answered, int Arrival)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    /// <summary>The indexes of the receiver's secrets the StandardWebhooks package verified the request with.</summary>
    public IReadOnlyList<int> VerifiedBy { get; init; } = [];

    /// <summary>The indexes of the receiver's secrets a verifier written from the specification accepts it with.</summary>
    public IReadOnlyList<int> SpecVerifiedBy { get; init; } = [];
}

/// <summary>
/// A webhook receiver on a real loopback port, verifying each request with the StandardWebhooks package (1.1.2) and with a
/// verifier written here from the specification, neither of them the gateway's signing code, and answering as a test tells
/// it to. Requests are recorded as they arrive (<see cref="Arrivals"/>) and again once answered (<see cref="Receipts"/>).
/// </summary>
/// <remarks>
/// StandardWebhooks 1.1.2's <c>Verify</c> checks only the first signature of a <c>webhook-signature</c> header that holds
/// several (its loop ends before the second one is compared): a receiver on that package verifies with the secret listed
/// first. The specification's verifier accepts any signature that matches.
/// </remarks>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly LoopbackServer _server;
    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);
    private int _arrivals;

    private WebhookReceiver(LoopbackServer server, string[] secrets)
    {
        _server = server;
        Secrets = secrets;
    }

    /// <summary>The secrets this receiver verifies with: <see cref="Receipt.Verified"/> with the first, <see cref="Receipt.VerifiedBy"/> each.</summary>
    public string[] Secrets { get; }

    public ConcurrentQueue<Receipt> Receipts { get; } = new();

    /// <summary>Every request as it arrived, before it was answered.</summary>
    public ConcurrentQueue<Receipt> Arrivals { get; } = new();

    /// <summary>Requests that arrived, answered or not yet.</summary>
    public int Arrived => Volatile.Read(ref _arrivals);

    /// <summary>How to answer a request: the status, after any delay the function chooses (default 200 at once).</summary>
    public Func<Receipt, Task<int>> Answer { get; set; } = _ => Task.FromResult(200);

    public string Url(string path = "/hook") => _server.Address + path;

    public static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static async Task<WebhookReceiver> StartAsync(params string[] secrets)
    {
        WebhookReceiver? receiver = null;
        var server = await LoopbackServer.StartAsync(context => receiver!.HandleAsync(context));
        receiver = new WebhookReceiver(server, secrets);
        return receiver;
    }

    /// <summary>The delivered receipts (answered 2xx), in the order they arrived.</summary>
    public List<Receipt> Delivered => [.. Receipts.Where(r => r.Answered is >= 200 and < 300).OrderBy(r => r.Arrival)];

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var verifiedBy = new List<int>();
        for (var i = 0; i < Secrets.Length; i++)
        {
            try
            {
                new StandardWebhook(Secrets[i]).Verify(body, context.Request.Headers);
                verifiedBy.Add(i);
            }
            catch (WebhookVerificationException)
            {
                // Not signed with this one.
            }
        }

        var arrival = Interlocked.Increment(ref _arrivals);
        var id = context.Request.Headers["webhook-id"].ToString();
        var attempt = _attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
        string type = "", generationId = "";
        try
        {
            var json = JsonDocument.Parse(body).RootElement;
            type = json.GetProperty("type").GetString() ?? "";
            generationId = json.GetProperty("data").GetProperty("id").GetString() ?? "";
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            // Recorded as it came: the test asserts on it.
        }

        var signature = context.Request.Headers["webhook-signature"].ToString();
        var timestamp = context.Request.Headers["webhook-timestamp"].ToString();
        var receipt = new Receipt(context.Request.Path + context.Request.QueryString, id, attempt, type, generationId, verifiedBy.Contains(0),
            signature, body, 0, arrival)
        {
            VerifiedBy = verifiedBy,
            SpecVerifiedBy = [.. Enumerable.Range(0, Secrets.Length).Where(i => SpecVerify(Secrets[i], id, timestamp, body, signature))],
        };
        Arrivals.Enqueue(receipt);
        var status = await Answer(receipt);
        Receipts.Enqueue(receipt with { Answered = context.RequestAborted.IsCancellationRequested ? 0 : status });
        context.Response.StatusCode = status;
    }

    /// <summary>
    /// The specification's verification (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
    /// "Verifying webhook authenticity"): a timestamp within five minutes, and any <c>v1</c> signature in the space-separated
    /// list equal to the base64 HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c> under the secret's bytes.
    /// </summary>
    private static bool SpecVerify(string secret, string id, string timestamp, string body, string header)
    {
        if (!long.TryParse(timestamp, out var seconds) || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - seconds) > 300)
        {
            return false;
        }

        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var expected = Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
        return header.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(entry =>
            entry.StartsWith("v1,", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(entry[3..]), Encoding.ASCII.GetBytes(expected)));
    }

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();
}
