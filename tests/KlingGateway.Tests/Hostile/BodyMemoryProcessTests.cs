using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using KlingGateway.Simulator;
using KlingGateway.Tests.Validation;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace KlingGateway.Tests.Hostile;

/// <summary>
/// Memory held by request bodies, in the real process under the heap .NET takes in the container of deploy/base
/// (512Mi, so a 384 MiB heap: DOTNET_GCHeapHardLimit). Slow callers announcing 50 MB bodies and holding them open once
/// exhausted that heap, and legitimate 25 MB creates then failed with 500. Now buffers grow with the bytes received and
/// all bodies share Gateway:MaxBufferedBodyBytes: a legitimate create is accepted or refused with a 503 problem and
/// Retry-After, never a 500, and is accepted once the slow callers are gone.
/// </summary>
public sealed class BodyMemoryProcessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Key = "memory-test-upstream-key-6d0b";
    private const int SlowCallers = 6;
    private const int SlowBytes = 30_000_000;
    private const int Creates = 6;

    private readonly string _work = Path.Combine(Path.GetTempPath(), "kling-gateway-tests", $"memory-{Guid.NewGuid():N}");
    private WebApplication? _simulator;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_work);
        _simulator = SimulatorApp.Build(new SimulatorOptions { ApiKey = Key, QueuedFor = TimeSpan.FromSeconds(1), GeneratingFor = TimeSpan.FromSeconds(1) });
        await _simulator.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_simulator is not null)
        {
            await _simulator.DisposeAsync();
        }

        Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public async Task SlowCallersHoldingBodies_LeaveLegitimateCreatesA202OrA503ProblemNeverA500()
    {
        await using var gateway = GatewayProcess.Start(new Dictionary<string, string?>
        {
            ["DOTNET_GCHeapHardLimit"] = "0x18000000", // 384 MiB
            ["AimlApi__ApiKey"] = Key,
            ["AimlApi__BaseUrl"] = _simulator!.BaseAddress(),
            ["AimlApi__CreateTimeout"] = "00:01:00",
            ["Ledger__Path"] = Path.Combine(_work, "ledger.db"),
            ["Auth__AllowAnonymous"] = "true",
            ["Auth__Defaults__RequestsPerMinute"] = "0",
            ["Auth__Defaults__MaxInFlight"] = "0",
        });
        var address = await gateway.Listening.WaitAsync(TimeSpan.FromSeconds(60));

        // Slow callers: each announces 50 MB, sends 30 MB, then trickles a few bytes a second (above Kestrel's minimum
        // rate) so its body stays open.
        using var stop = new CancellationTokenSource();
        var slow = Enumerable.Range(0, SlowCallers).Select(_ => HoldBodyOpenAsync(address, stop.Token)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(5));

        var body = LegitimateBody();
        var answers = await Task.WhenAll(Enumerable.Range(0, Creates).Select(_ => CreateAsync(address, body)));
        foreach (var answer in answers)
        {
            output.WriteLine($"while held: {answer?.Status} {answer?.Header("Retry-After")} {answer?.Text[..Math.Min(120, answer.Text.Length)]}");
        }

        Assert.False(gateway.HasExited, "the gateway died");
        Assert.All(answers, AssertAcceptedOrBusy);

        await stop.CancelAsync();
        await Task.WhenAll(slow);
        var after = await CreateAsync(address, body);
        output.WriteLine($"after: {after?.Status} {after?.Text[..Math.Min(120, after.Text.Length)]}");
        Assert.Equal(202, after?.Status);

        // A burst of legitimate large creates alone is held to the same budget: some accepted, the rest told to retry.
        var burst = await Task.WhenAll(Enumerable.Range(0, Creates).Select(_ => CreateAsync(address, body)));
        output.WriteLine($"burst: {string.Join(", ", burst.Select(b => b?.Status))}");
        Assert.All(burst, AssertAcceptedOrBusy);
        Assert.Contains(burst, b => b!.Status == 202);

        Assert.False(gateway.HasExited, "the gateway died");
        Assert.DoesNotContain(gateway.Stdout, line => line.Contains("OutOfMemoryException", StringComparison.Ordinal) || line.Contains("\"StatusCode\":500", StringComparison.Ordinal));
        var accepted = answers.Concat(burst).Count(a => a!.Status == 202) + 1;
        Assert.Equal(accepted, _simulator!.Services.GetRequiredService<SimulatorState>().CreateCount);
    }

    private static void AssertAcceptedOrBusy(RawResponse? answer)
    {
        Assert.NotNull(answer);
        if (answer.Status == 202)
        {
            return;
        }

        Assert.True(answer.Status == 503, $"{answer.Status}: {answer.Text}");
        Assert.Equal("gateway_busy", JsonDocument.Parse(answer.Body).RootElement.GetProperty("code").GetString());
        Assert.NotNull(answer.Header("Retry-After"));
    }

    /// <summary>A v1 pro create with a first and a last frame of 9.3 MB each: a 25 MB body.</summary>
    private static byte[] LegitimateBody()
    {
        var frame = TestImages.Base64(TestImages.Png(1280, 720, 9_300_000));
        return Encoding.UTF8.GetBytes($$"""{"model":"kling-video/v1/pro/image-to-video","prompt":"legitimate","image_url":"{{frame}}","tail_image_url":"{{frame}}"}""");
    }

    private static Task<RawResponse?> CreateAsync(Uri address, byte[] body) => RawHttp.SendAsync(address,
        RawHttp.Head("POST", "/v1/generations",
            [new("Content-Type", "application/json"), new("Content-Length", body.Length.ToString(CultureInfo.InvariantCulture))]),
        RawHttp.Body(body), TimeSpan.FromSeconds(120));

    private static async Task HoldBodyOpenAsync(Uri address, CancellationToken stop)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(address.Host, address.Port, stop);
            await socket.SendAsync(RawHttp.Head("POST", "/v1/generations",
                [new("Content-Type", "application/json"), new("Content-Length", "50000000")]), stop);
            await socket.SendAsync("{\"prompt\":\""u8.ToArray(), stop);
            var piece = new byte[64 * 1024];
            Array.Fill(piece, (byte)'a');
            for (var sent = 0; sent < SlowBytes; sent += piece.Length)
            {
                await socket.SendAsync(piece, stop);
            }

            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
                await socket.SendAsync(piece.AsMemory(0, 400), stop);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            // Stopped, or the gateway refused this body (503) and closed the connection: either is fine here.
        }
    }
}
