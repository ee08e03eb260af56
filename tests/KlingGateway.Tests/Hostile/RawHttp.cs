using System.Net.Sockets;
using System.Text;

namespace KlingGateway.Tests.Hostile;

/// <summary>An HTTP/1.1 answer as it came off the socket.</summary>
internal sealed record RawResponse(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string? Header(string name) =>
        Headers.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// A client that writes exactly the bytes it is given to a real server socket, so requests no HTTP library would send
/// (raw control bytes, duplicated headers, invalid UTF-8, bodies that lie about their length) reach Kestrel as they are.
/// It asks for the connection to close and reads the answer to its end.
/// </summary>
internal static class RawHttp
{
    /// <summary>The request line and headers, in Latin-1 so any byte can be written, ending with the blank line.</summary>
    public static byte[] Head(string method, string target, IEnumerable<KeyValuePair<string, string>> headers)
    {
        var head = new StringBuilder($"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        return Encoding.Latin1.GetBytes(head.Append("\r\n").ToString());
    }

    /// <summary>
    /// Sends <paramref name="head"/> and then the body <paramref name="writeBody"/> writes (while the answer is read, as a
    /// server may answer before the body is done), and reads the answer. Null when the server closed without one.
    /// </summary>
    public static async Task<RawResponse?> SendAsync(Uri server, byte[] head, Func<Stream, CancellationToken, Task>? writeBody = null, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.Host, server.Port, cancel.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var writing = Task.Run(async () =>
        {
            try
            {
                await stream.WriteAsync(head, cancel.Token);
                if (writeBody is not null)
                {
                    await writeBody(stream, cancel.Token);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The server answered and closed before the body was done: the answer is what matters.
            }
        }, CancellationToken.None);

        try
        {
            return await ReadAsync(stream, cancel.Token);
        }
        finally
        {
            await cancel.CancelAsync();
            socket.Close();
            await writing;
        }
    }

    /// <summary>A body written whole.</summary>
    public static Func<Stream, CancellationToken, Task> Body(byte[] body) =>
        async (stream, cancel) => await stream.WriteAsync(body, cancel);

    /// <summary>A body of <paramref name="total"/> bytes written in pieces of filler after <paramref name="start"/>.</summary>
    public static Func<Stream, CancellationToken, Task> Filler(byte[] start, long total, bool chunked) => async (stream, cancel) =>
    {
        var piece = new byte[64 * 1024];
        Array.Fill(piece, (byte)'a');
        long sent = 0;
        async Task Write(ReadOnlyMemory<byte> bytes)
        {
            if (chunked)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"{bytes.Length:X}\r\n"), cancel);
                await stream.WriteAsync(bytes, cancel);
                await stream.WriteAsync("\r\n"u8.ToArray(), cancel);
            }
            else
            {
                await stream.WriteAsync(bytes, cancel);
            }

            sent += bytes.Length;
        }

        await Write(start);
        while (sent < total)
        {
            await Write(piece.AsMemory(0, (int)Math.Min(piece.Length, total - sent)));
        }

        if (chunked)
        {
            await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), cancel);
        }
    };

    private static async Task<RawResponse?> ReadAsync(Stream stream, CancellationToken cancel)
    {
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int headEnd;
        while ((headEnd = IndexOf(received, "\r\n\r\n"u8)) < 0)
        {
            var n = await ReadSomeAsync(stream, buffer, cancel);
            if (n == 0)
            {
                return null;
            }

            received.Write(buffer, 0, n);
        }

        var all = received.ToArray();
        var lines = Encoding.Latin1.GetString(all, 0, headEnd).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Select(p => KeyValuePair.Create(p[0].Trim(), p.Length > 1 ? p[1].Trim() : "")).ToList();

        // Connection: close was asked for, so the body runs to the end of the stream whatever its framing.
        var rest = new MemoryStream();
        rest.Write(all, headEnd + 4, all.Length - headEnd - 4);
        int read;
        while ((read = await ReadSomeAsync(stream, buffer, cancel)) > 0)
        {
            rest.Write(buffer, 0, read);
        }

        var body = rest.ToArray();
        if (headers.Any(h => h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            body = Unchunk(body);
        }

        return new RawResponse(status, headers, body);
    }

    private static async Task<int> ReadSomeAsync(Stream stream, byte[] buffer, CancellationToken cancel)
    {
        try
        {
            return await stream.ReadAsync(buffer, cancel);
        }
        catch (IOException)
        {
            return 0; // reset after the answer: the server closed a connection whose body it did not want
        }
    }

    private static byte[] Unchunk(byte[] chunked)
    {
        var body = new MemoryStream();
        var at = 0;
        while (at < chunked.Length)
        {
            var lineEnd = chunked.AsSpan(at).IndexOf("\r\n"u8);
            if (lineEnd < 0)
            {
                break;
            }

            var size = Convert.ToInt32(Encoding.ASCII.GetString(chunked, at, lineEnd).Split(';')[0], 16);
            at += lineEnd + 2;
            if (size == 0)
            {
                break;
            }

            body.Write(chunked, at, Math.Min(size, chunked.Length - at));
            at += size + 2;
        }

        return body.ToArray();
    }

    private static int IndexOf(MemoryStream stream, ReadOnlySpan<byte> value) =>
        stream.GetBuffer().AsSpan(0, (int)stream.Length).IndexOf(value);
}
