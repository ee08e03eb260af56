namespace KlingGateway.Videos;

/// <summary>A stored object, ready to serve.</summary>
/// <param name="Length">Its size in bytes.</param>
/// <param name="LastModified">When it was written.</param>
/// <param name="PhysicalPath">The file, when the storage is a file system (served with the framework's file support).</param>
/// <param name="OpenRead">Opens a seekable read stream, for storage that is not a file system.</param>
public sealed record StoredObject(long Length, DateTimeOffset LastModified, string? PhysicalPath, Func<Stream> OpenRead);

/// <summary>
/// Where the gateway keeps videos: one small interface, so an object store can stand in for the directory. Keys are the
/// gateway's own (a generation id and an extension), never a caller's text.
/// </summary>
public interface IVideoStorage
{
    /// <summary>
    /// Stores an object under <paramref name="key"/>: <paramref name="write"/> writes the content to a temporary object
    /// that becomes visible under the key only once it is complete, so a crash or a failed write never leaves half an
    /// object under the key. When <paramref name="write"/> throws, nothing is stored and the exception propagates.
    /// </summary>
    Task WriteAsync(string key, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken);

    /// <summary>The object under <paramref name="key"/>, or <see langword="null"/> when there is none.</summary>
    StoredObject? Find(string key);

    /// <summary>Removes the object; no error when there is none.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>Removes temporary objects older than <paramref name="olderThan"/>: writes whose process died. Returns how many.</summary>
    Task<int> RemoveAbandonedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken);

    /// <summary>Makes sure the storage can be written now (at start); throws with a message naming the setting when not.</summary>
    Task EnsureWritableAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Videos in a directory (<c>Storage:Path</c>), in subdirectories by the key's first characters so no directory grows
/// past a few thousand entries. A write goes to a hidden <c>.part</c> file in the same directory, is flushed to disk,
/// and is renamed over the key: a rename within a file system is atomic, so readers see the old object, the new one, or
/// none, never half of one.
/// </summary>
public sealed class FileVideoStorage(string directory) : IVideoStorage
{
    private const string PartSuffix = ".part";

    /// <summary>The absolute directory.</summary>
    public string Directory { get; } = Path.GetFullPath(directory);

    public async Task WriteAsync(string key, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        var final = PathOf(key);
        var folder = Path.GetDirectoryName(final)!;
        System.IO.Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(final)}.{Guid.NewGuid():N}{PartSuffix}");
        try
        {
            await using (var file = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                BufferSize = 0,
            }))
            {
                await write(file, cancellationToken);
                // On disk before it is named: after a power loss the key holds the whole file or nothing.
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, final, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public StoredObject? Find(string key)
    {
        var info = new FileInfo(PathOf(key));
        return info.Exists
            ? new StoredObject(info.Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero), info.FullName,
                () => new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, FileOptions.Asynchronous))
            : null;
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        TryDelete(PathOf(key));
        return Task.CompletedTask;
    }

    public Task<int> RemoveAbandonedAsync(DateTimeOffset olderThan, CancellationToken cancellationToken)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return Task.FromResult(0);
        }

        var removed = 0;
        foreach (var part in System.IO.Directory.EnumerateFiles(Directory, "*" + PartSuffix, SearchOption.AllDirectories))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (File.GetLastWriteTimeUtc(part) < olderThan.UtcDateTime && TryDelete(part))
            {
                removed++;
            }
        }

        return Task.FromResult(removed);
    }

    public async Task EnsureWritableAsync(CancellationToken cancellationToken)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            var probe = Path.Combine(Directory, $".write-check.{Guid.NewGuid():N}{PartSuffix}");
            await File.WriteAllBytesAsync(probe, [1], cancellationToken);
            File.Delete(probe);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"Storage:Path (Storage__Path) names a directory the gateway cannot write: {Directory} ({exception.Message}). " +
                "Mount a writable volume there, point Storage:Path elsewhere, or set Storage:Enabled=false.", exception);
        }
    }

    /// <summary>The file of a key: keys are the gateway's own ids, so only their characters are allowed.</summary>
    private string PathOf(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (key.Length > 100 || key.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.')) || key.StartsWith('.'))
        {
            throw new ArgumentException($"'{key}' is not a storage key of the gateway.", nameof(key));
        }

        // The characters after a generation id's "gen_" prefix are random, so they spread files evenly.
        var shard = key.Length > 6 ? key.Substring(4, 2) : "00";
        return Path.Combine(Directory, shard, key);
    }

    private static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
