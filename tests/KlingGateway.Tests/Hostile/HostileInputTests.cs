using System.Text;
using System.Text.Json;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using Xunit.Abstractions;

namespace KlingGateway.Tests.Hostile;

/// <summary>
/// Every case of <see cref="HostileCases"/> against the real app on a real Kestrel port, as raw bytes on a socket.
/// For each: no 5xx; an application/problem+json body carrying a code of the catalog, its title and the status (or,
/// where Kestrel answers before the app runs, Kestrel's own status with an empty body); nothing sent upstream unless
/// the request was valid; and bounded work: the answer and every log event it caused have bounded sizes, the bytes held
/// for its body go back to zero, and parsing and validating its body directly allocates a bounded amount.
/// </summary>
[Collection(nameof(HostileCollection))]
public sealed class HostileInputTests(KestrelGateway gateway, ITestOutputHelper output) : IClassFixture<KestrelGateway>
{
    /// <summary>The largest answer a hostile request may get (100 faults of a few hundred bytes, with room to spare).</summary>
    private const int MaxAnswerBytes = 64 * 1024;

    /// <summary>The largest log event one request may cause: a request line is at most 8 KB (Kestrel's limit).</summary>
    private const int MaxLogEventBytes = 16 * 1024;

    /// <summary>What validating any parsed body may allocate: its 100 listed faults, nothing that grows with the body.</summary>
    private const long ValidationBudgetBytes = 512 * 1024;

    private static readonly GenerationRequestValidator Validator = new();

    [Theory]
    [MemberData(nameof(HostileCases.Names), MemberType = typeof(HostileCases))]
    public async Task HostileRequest_IsAnsweredWithAProblemAndBoundedWork(string name)
    {
        var @case = HostileCases.All[name];
        var logBefore = gateway.LogLines().Length;
        var createsBefore = gateway.Factory.Simulator.CreateCount;

        var response = await SendAsync(@case);

        Assert.NotNull(response);
        var expect = @case.Expect;
        output.WriteLine($"{response.Status} {response.Header("Content-Type")} {Truncate(response.Text, 300)}");
        // Kestrel's own 505 for an HTTP version it does not speak is the one 5xx no application code can change.
        Assert.True(response.Status < 500 || (expect.KestrelOwn && response.Status == 505), $"{name}: {response.Status} {response.Text}");
        Assert.True(response.Status < 400 || response.Body.Length <= MaxAnswerBytes, $"{name}: the answer is {response.Body.Length:N0} bytes");
        if (expect.Status is { } status)
        {
            Assert.Equal(status, response.Status);
        }

        if (expect.KestrelOwn)
        {
            Assert.Empty(response.Body);
            Assert.Equal("close", response.Header("Connection"));
        }
        else if (response.Status >= 400)
        {
            AssertProblem(response, expect);
        }
        else
        {
            Assert.True(expect.MaySucceed, $"{name}: {response.Status} for a request that must be refused: {response.Text}");
        }

        if (response.Status >= 400)
        {
            Assert.Equal(createsBefore, gateway.Factory.Simulator.CreateCount);
        }

        await AssertBodyBytesReleasedAsync(name);
        AssertLogEventsBounded(name, logBefore);
        if (@case.Route is { } route && @case.Body is { } body && @case.Filler is null && !@case.Headers.Any(h => h.Key == "Transfer-Encoding"))
        {
            AssertParseAndValidateBounded(name, body, route);
        }
    }

    private async Task<RawResponse?> SendAsync(HostileCase @case)
    {
        var headers = @case.Headers.ToList();
        Func<Stream, CancellationToken, Task>? body = null;
        if (@case.Filler is { } filler)
        {
            headers.Add(filler.Announced is { } announced ? new("Content-Length", announced.ToString(System.Globalization.CultureInfo.InvariantCulture)) : new("Transfer-Encoding", "chunked"));
            body = RawHttp.Filler(@case.Body ?? [], filler.Written, @case.Chunked);
        }
        else if (@case.Body is { } content)
        {
            if (!headers.Any(h => h.Key is "Content-Length" or "Transfer-Encoding"))
            {
                headers.Add(new("Content-Length", content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }

            body = RawHttp.Body(content);
        }

        var target = @case.Target.Contains(HostileCases.VideoLink, StringComparison.Ordinal)
            ? @case.Target.Replace(HostileCases.VideoLink, await gateway.VideoLinkAsync(), StringComparison.Ordinal)
            : @case.Target;
        return await RawHttp.SendAsync(gateway.Address, RawHttp.Head(@case.Method, target, headers), body);
    }

    private static void AssertProblem(RawResponse response, Expectation expect)
    {
        Assert.Equal("application/problem+json", response.Header("Content-Type")?.Split(';')[0]);
        var problem = JsonDocument.Parse(response.Body).RootElement;
        var code = problem.GetProperty("code").GetString();
        var type = ProblemCatalog.Find(code);
        Assert.True(type is not null, $"code {code} is not in the catalog");
        Assert.Equal(type.Status, response.Status);
        Assert.Equal(type.Title, problem.GetProperty("title").GetString());
        Assert.Equal(response.Status, problem.GetProperty("status").GetInt32());
        if (expect.Code is { } expected)
        {
            Assert.Equal(expected, code);
        }

        if (expect.ErrorKey is { } key)
        {
            Assert.True(problem.TryGetProperty("errors", out var errors) && errors.TryGetProperty(key, out _),
                $"no error at '{key}': {Truncate(response.Text, 2000)}");
        }
    }

    private async Task AssertBodyBytesReleasedAsync(string name)
    {
        // A body's buffer goes back when its request ends, just after the answer is written.
        for (var wait = 0; gateway.BufferedBodyBytes != 0 && wait < 200; wait++)
        {
            await Task.Delay(25);
        }

        Assert.True(gateway.BufferedBodyBytes == 0, $"{name}: {gateway.BufferedBodyBytes:N0} bytes of bodies still held");
    }

    private void AssertLogEventsBounded(string name, int before)
    {
        var lines = gateway.LogLines();
        foreach (var line in lines.Skip(before))
        {
            Assert.True(Encoding.UTF8.GetByteCount(line) <= MaxLogEventBytes, $"{name}: a log event of {line.Length:N0} characters: {Truncate(line, 300)}");
        }
    }

    private static void AssertParseAndValidateBounded(string name, byte[] body, CreateRoute route)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        using var request = GenerationRequest.Parse(body, route);
        var parsed = GC.GetAllocatedBytesForCurrentThread();
        if (request.Rejection == RequestRejection.None)
        {
            Validator.Validate(request);
            Assert.True(request.Images.Count <= 9, $"{name}: {request.Images.Count} images inspected");
        }

        var validated = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(validated - parsed < ValidationBudgetBytes, $"{name}: validation allocated {validated - parsed:N0} bytes");
        // Parsing is linear: the parser's index (about the body's size, rented once) and the strings it reads.
        Assert.True(validated - before < 3L * body.Length + (4 << 20), $"{name}: parsing and validating {body.Length:N0} bytes allocated {validated - before:N0}");
    }

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length] + "…";
}

/// <summary>
/// The hostile tests measure the log growth and the held bytes of their own gateways, so they run one at a time, beside
/// the rest of the tests.
/// </summary>
[CollectionDefinition(nameof(HostileCollection))]
public sealed class HostileCollection;
