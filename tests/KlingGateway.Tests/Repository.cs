namespace KlingGateway.Tests;

/// <summary>The repository the tests run from, for tests that read its files (README, manifests, sources).</summary>
internal static class Repository
{
    private static readonly Lazy<string> RootDirectory = new(FindRoot);

    /// <summary>The directory holding KlingGateway.sln.</summary>
    public static string Root => RootDirectory.Value;

    public static string ReadAllText(string relativePath) => File.ReadAllText(Path.Combine(Root, relativePath));

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "KlingGateway.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (KlingGateway.sln) was not found above the test binaries.");
    }
}
