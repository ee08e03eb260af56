using System.Text;
using System.Text.Json;
using KlingGateway.Infrastructure;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Json;

namespace KlingGateway.Tests.Infrastructure;

public sealed class BatchingTextSinkTests
{
    private static readonly JsonFormatter Formatter = new(renderMessage: true);

    [Fact]
    public void EventsFromManyThreads_AreEachWrittenOnce_AsTheFormatterWritesThem_InEachThreadsOrder()
    {
        var output = new MemoryStream();
        var expected = new List<string>();
        var sink = new BatchingTextSink(Formatter, output);
        using (var logger = new LoggerConfiguration().WriteTo.Sink(sink).CreateLogger())
        {
            var events = Enumerable.Range(0, 4).Select(thread => Enumerable.Range(0, 500)
                .Select(i => Event(logger, "Create {Thread}/{Index} by {Client} in {ElapsedMs:0.0} ms é \"quoted\"", thread, i, "client-ü", i / 3.0))
                .ToList()).ToList();
            expected.AddRange(events.SelectMany(list => list).Select(Formatted));

            Parallel.ForEach(events, list => list.ForEach(sink.Emit));
        }

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Order(StringComparer.Ordinal), lines.Order(StringComparer.Ordinal));
        for (var thread = 0; thread < 4; thread++)
        {
            var indexes = lines.Select(line => JsonDocument.Parse(line).RootElement.GetProperty("Properties"))
                .Where(properties => properties.GetProperty("Thread").GetInt32() == thread)
                .Select(properties => properties.GetProperty("Index").GetInt32());
            Assert.Equal(Enumerable.Range(0, 500), indexes);
        }
    }

    [Fact]
    public async Task AFullQueueBehindAStuckOutput_MakesCallersWait_AndLosesNothing()
    {
        var output = new GatedStream();
        var sink = new BatchingTextSink(Formatter, output, capacity: 2);
        using var logger = new LoggerConfiguration().CreateLogger();

        // The writer takes the first events and blocks in the output; the queue of 2 fills and the rest wait to be queued.
        var emitting = Task.Run(() =>
        {
            for (var i = 0; i < 50; i++)
            {
                sink.Emit(Event(logger, "Audit {Index}", i));
            }
        });
        output.Open();
        await emitting;
        sink.Dispose();

        var indexes = Encoding.UTF8.GetString(output.Written)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("Properties").GetProperty("Index").GetInt32());
        Assert.Equal(Enumerable.Range(0, 50), indexes);
    }

    [Fact]
    public async Task AnOutputThatFails_LosesThoseEvents_ButNeverLeavesCallersWaiting()
    {
        var sink = new BatchingTextSink(Formatter, new FailingStream(), capacity: 2);
        using var logger = new LoggerConfiguration().CreateLogger();

        // Far more events than the queue holds: if the writer stopped at the first failure, Emit would wait for ever.
        var emitting = Task.Run(() =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                sink.Emit(Event(logger, "Event {Index}", i));
            }
        });

        await emitting.WaitAsync(TimeSpan.FromSeconds(60));
        sink.Dispose();
    }

    [Fact]
    public void AfterDispose_EmitIsIgnored_NotThrown()
    {
        var output = new MemoryStream();
        var sink = new BatchingTextSink(Formatter, output);
        using var logger = new LoggerConfiguration().CreateLogger();
        sink.Emit(Event(logger, "Before {Index}", 1));
        sink.Dispose();

        sink.Emit(Event(logger, "After {Index}", 2));

        var line = Assert.Single(Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Before 1", line, StringComparison.Ordinal);
    }

    private static LogEvent Event(ILogger logger, string template, params object[] values)
    {
        Assert.True(logger.BindMessageTemplate(template, values, out var parsed, out var properties));
        return new LogEvent(DateTimeOffset.UtcNow, LogEventLevel.Information, null, parsed!, properties!);
    }

    private static string Formatted(LogEvent logEvent)
    {
        var writer = new StringWriter();
        Formatter.Format(logEvent, writer);
        return writer.ToString().TrimEnd('\n', '\r');
    }

    /// <summary>A stream whose writes fail, as a closed pipe's do.</summary>
    private sealed class FailingStream : WriteOnlyStream
    {
        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("Broken pipe");

        public override void Flush() => throw new IOException("Broken pipe");
    }

    /// <summary>A stream whose writes wait until it is opened, as a pipe nobody reads does.</summary>
    private sealed class GatedStream : WriteOnlyStream
    {
        private readonly ManualResetEventSlim _open = new();
        private readonly MemoryStream _written = new();

        public byte[] Written
        {
            get
            {
                lock (_written)
                {
                    return _written.ToArray();
                }
            }
        }

        public void Open() => _open.Set();

        public override void Write(byte[] buffer, int offset, int count)
        {
            _open.Wait();
            lock (_written)
            {
                _written.Write(buffer, offset, count);
            }
        }

        public override void Flush() => _open.Wait();
    }
}
