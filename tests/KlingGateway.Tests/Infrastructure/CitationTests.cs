using System.Text.RegularExpressions;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>
/// What the code and docs cite is what ships: a fact about the upstream is cited as <c>docs/upstream.md</c> (section by
/// name) or a public URL, never a note that lives outside the repository, which a reader of a clone cannot open.
/// </summary>
public sealed partial class CitationTests
{
    private static readonly string[] TextExtensions =
        [".cs", ".md", ".csproj", ".props", ".targets", ".sln", ".json", ".js", ".css", ".html", ".sh", ".py", ".lua", ".yaml", ".yml", ".txt", ".env", ".editorconfig"];

    private static readonly string[] SkippedDirectories = ["bin", "obj", ".git", "artifacts", "node_modules", "TestResults"];

    [Fact]
    public void NoFile_CitesANoteOutsideTheRepository()
    {
        var offenders = RepositoryTextFiles()
            .SelectMany(path => File.ReadLines(path).Select((line, index) => (path, line, number: index + 1)))
            .Where(hit => OutsideNote().IsMatch(hit.line))
            .Select(hit => $"{Path.GetRelativePath(Repository.Root, hit.path)}:{hit.number}: {hit.line.Trim()}")
            .ToList();

        Assert.True(offenders.Count == 0,
            "Cite docs/upstream.md (section by name) or a public URL instead:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void TheScan_ReadsSourcesTestsAndDocs()
    {
        var files = RepositoryTextFiles().Select(path => Path.GetRelativePath(Repository.Root, path).Replace('\\', '/')).ToList();

        // A scan that finds nothing passes for the wrong reason: it must cover what a clone holds.
        Assert.Contains("README.md", files);
        Assert.Contains("docs/upstream.md", files);
        Assert.Contains("src/KlingGateway/Models/ModelCatalog.cs", files);
        Assert.Contains("src/KlingGateway.Simulator/README.md", files);
        Assert.Contains("tests/KlingGateway.Tests/Infrastructure/CitationTests.cs", files);
        Assert.Matches(OutsideNote(), "see " + "RESEARCH" + ".md §10");
        Assert.Matches(OutsideNote(), "(" + "CONTRACT" + ".md, \"Validation\")");
        Assert.Matches(OutsideNote(), "Style" + ".md");
        Assert.DoesNotMatch(OutsideNote(), "docs/upstream.md, \"Validation\"");
    }

    private static IEnumerable<string> RepositoryTextFiles()
    {
        var pending = new Stack<string>([Repository.Root]);
        while (pending.Count > 0)
        {
            var directory = pending.Pop();
            foreach (var child in Directory.EnumerateDirectories(directory))
            {
                if (!SkippedDirectories.Contains(Path.GetFileName(child), StringComparer.OrdinalIgnoreCase))
                {
                    pending.Push(child);
                }
            }

            foreach (var file in Directory.EnumerateFiles(directory))
            {
                if (TextExtensions.Contains(Path.GetExtension(file), StringComparer.OrdinalIgnoreCase)
                    || Path.GetFileName(file) is "Dockerfile" or ".gitignore")
                {
                    yield return file;
                }
            }
        }
    }

    // Spelled in pieces so that this file does not match itself.
    [GeneratedRegex(@"\b(RESEARCH|CONTRACT|STYLE)" + @"\.md\b", RegexOptions.IgnoreCase)]
    private static partial Regex OutsideNote();
}
