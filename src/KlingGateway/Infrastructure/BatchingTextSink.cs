using System.Collections.Concurrent;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Writes log events to a stream (standard output in the gateway) from a thread of its own: requests only queue their
/// events. The thread formats every event that is waiting straight into one buffered writer and writes and flushes it
/// once, so a busy second costs a few writes instead of one per event, and no string per event (Serilog's console sink
/// formats each event into a string of its own and flushes after each; bench/FINDINGS.md, item 17).
/// The queue is bounded; when it is full, a caller waits rather than an event being dropped (audit events must not be
/// lost). Disposing writes what is queued, then flushes.
/// </summary>
internal sealed class BatchingTextSink : ILogEventSink, IDisposable
{
    private readonly ITextFormatter _formatter;
    private readonly TextWriter _output;
    private readonly BlockingCollection<LogEvent> _queue;
    private readonly Thread _writer;

    public BatchingTextSink(ITextFormatter formatter, Stream output, int capacity = 10_000)
    {
        _formatter = formatter;
        _output = new StreamWriter(output, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 64 * 1024)
        {
            AutoFlush = false,
        };
        _queue = new BlockingCollection<LogEvent>(capacity);
        _writer = new Thread(WriteQueued) { IsBackground = true, Name = "Log writer" };
        _writer.Start();
    }

    public void Emit(LogEvent logEvent)
    {
        try
        {
            _queue.Add(logEvent);
        }
        catch (Exception exception) when (exception is InvalidOperationException or ObjectDisposedException)
        {
            // Disposed: the host is stopping and the last events were written.
        }
    }

    private void WriteQueued()
    {
        while (_queue.TryTake(out var logEvent, Timeout.Infinite))
        {
            try
            {
                do
                {
                    Write(logEvent);
                }
                while (_queue.TryTake(out logEvent));

                _output.Flush();
            }
            catch (IOException exception)
            {
                // The output failed (a closed pipe, a full disk). These events are lost; the writer goes on taking the
                // next ones, so callers never wait on a queue nobody empties.
                Serilog.Debugging.SelfLog.WriteLine("Log events could not be written: {0}", exception);
            }
        }
    }

    private void Write(LogEvent logEvent)
    {
        try
        {
            _formatter.Format(logEvent, _output);
        }
        catch (Exception exception) when (exception is not IOException)
        {
            // One event that cannot be formatted must not stop the others.
            Serilog.Debugging.SelfLog.WriteLine("Log event could not be formatted: {0}", exception);
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        _writer.Join();
        _queue.Dispose();
    }
}
