namespace KlingGateway.Simulator;

/// <summary>The embedded sample.mp4 (a real, tiny H.264 file) every completed generation links to.</summary>
internal static class SampleVideo
{
    public const string ContentType = "video/mp4";

    private static readonly Lazy<byte[]> Content = new(Load);

    public static byte[] Bytes => Content.Value;

    private static byte[] Load()
    {
        using var stream = typeof(SampleVideo).Assembly.GetManifestResourceStream("sample.mp4")
            ?? throw new InvalidOperationException("The embedded resource sample.mp4 is missing from the simulator assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
