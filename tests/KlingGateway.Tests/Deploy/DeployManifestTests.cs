using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace KlingGateway.Tests.Deploy;

/// <summary>
/// The deployment files say what the app really does: every manifest in deploy/ and the compose file parse, the
/// probes ask routes the app maps, the port is the one the Dockerfile exposes, the user is the image's non-root
/// user, and the only writable places are the ledger's volume and /tmp.
/// </summary>
public sealed partial class DeployManifestTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    private static readonly string Root = Repository.Root;
    private static readonly string Dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));
    private static readonly string ExposedPort = ExposeLine().Match(Dockerfile).Groups[1].Value;
    private static readonly string ImageUser = UserLine().Match(Dockerfile).Groups[1].Value;
    private static readonly string ImageLedgerPath = LedgerEnvLine().Match(Dockerfile).Groups[1].Value;

    [Fact]
    public void Dockerfile_ExposesOnePortRunsAsNonRootAndKeepsTheLedgerOnItsVolume()
    {
        Assert.Equal("8080", ExposedPort);
        Assert.Contains($"ASPNETCORE_HTTP_PORTS={ExposedPort}", Dockerfile, StringComparison.Ordinal);
        Assert.True(int.Parse(ImageUser) > 0, "the image must not run as root");
        Assert.Contains($"VOLUME {Path.GetDirectoryName(ImageLedgerPath)}", Dockerfile, StringComparison.Ordinal);
        Assert.Contains("chiseled", Dockerfile, StringComparison.Ordinal);
        Assert.Contains($"\"{Probe.Argument}\"", Dockerfile, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryManifest_ParsesAndTheKustomizationListsEachOne()
    {
        var files = Directory.GetFiles(Path.Combine(Root, "deploy"), "*.yaml", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            foreach (var document in Documents(file))
            {
                Assert.False(string.IsNullOrEmpty((string?)document["apiVersion"]), $"{file}: no apiVersion");
                Assert.False(string.IsNullOrEmpty((string?)document["kind"]), $"{file}: no kind");
            }
        }

        var baseDirectory = Path.Combine(Root, "deploy", "base");
        var kustomization = Documents(Path.Combine(baseDirectory, "kustomization.yaml")).Single();
        var listed = kustomization["resources"]!.AsArray().Select(r => (string)r!).Order().ToList();
        var present = Directory.GetFiles(baseDirectory, "*.yaml").Select(f => Path.GetFileName(f)!).Where(f => f != "kustomization.yaml").Order().ToList();
        Assert.Equal(present, listed);
        Assert.Equal(
            ["ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "PersistentVolumeClaim", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"],
            Base().Select(d => (string)d["kind"]!).Order().ToList());
    }

    [Fact]
    public void Deployment_ProbesTheRoutesTheAppMapsOnTheImagesPort()
    {
        var routes = MappedRoutes();
        var container = Container();
        var port = container["ports"]!.AsArray().Single()!;
        Assert.Equal(ExposedPort, (string?)port["containerPort"]);
        var portName = (string)port["name"]!;

        Assert.Equal("/health/live", (string?)container["livenessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("/health/ready", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
        foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
        {
            var httpGet = container[probe]!["httpGet"]!;
            Assert.Contains((string)httpGet["path"]!, routes);
            Assert.Equal(portName, (string?)httpGet["port"]);
        }

        var service = Base().Single(d => (string?)d["kind"] == "Service");
        Assert.Equal(portName, (string?)service["spec"]!["ports"]![0]!["targetPort"]);
        var policy = Base().Single(d => (string?)d["kind"] == "NetworkPolicy");
        Assert.Equal(ExposedPort, (string?)policy["spec"]!["ingress"]![0]!["ports"]![0]!["port"]);
    }

    [Fact]
    public void Deployment_RunsAsTheImagesUserWithAReadOnlyRootAndNoPrivileges()
    {
        var pod = Deployment()["spec"]!["template"]!["spec"]!;
        var container = Container();
        Assert.Equal("true", (string?)pod["securityContext"]!["runAsNonRoot"]);
        Assert.Equal(ImageUser, (string?)pod["securityContext"]!["runAsUser"]);
        Assert.Equal("false", (string?)pod["automountServiceAccountToken"]);
        var security = container["securityContext"]!;
        Assert.Equal("true", (string?)security["readOnlyRootFilesystem"]);
        Assert.Equal("false", (string?)security["allowPrivilegeEscalation"]);
        Assert.Equal(["ALL"], security["capabilities"]!["drop"]!.AsArray().Select(c => (string)c!));

        // The ledger is written where a PersistentVolumeClaim is mounted, the same place the image keeps it.
        var settings = Base().Single(d => (string?)d["kind"] == "ConfigMap" && (string?)d["metadata"]!["name"] == "kling-gateway-settings")["data"]!;
        var ledger = (string)settings["Ledger__Path"]!;
        Assert.Equal(ImageLedgerPath, ledger);
        var mounts = container["volumeMounts"]!.AsArray().ToDictionary(m => (string)m!["name"]!, m => (string)m!["mountPath"]!);
        var volumes = pod["volumes"]!.AsArray().ToDictionary(v => (string)v!["name"]!, v => v!);
        var ledgerVolume = mounts.Single(m => m.Value == Path.GetDirectoryName(ledger)).Key;
        Assert.NotNull(volumes[ledgerVolume]["persistentVolumeClaim"]);

        // The key comes from a Secret volume that is the settings directory, never from an environment literal.
        var env = container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);
        var settingsDirectory = env[HostingExtensions.SettingsDirectoryKey.Replace(":", "__", StringComparison.Ordinal)];
        var secretVolume = mounts.Single(m => m.Value == settingsDirectory).Key;
        Assert.NotNull(volumes[secretVolume]["secret"]);
        Assert.DoesNotContain(env.Keys.Concat(settings.AsObject().Select(p => p.Key)), k => k.Contains("ApiKey", StringComparison.Ordinal));

        // The clients file the gateway watches is the clients ConfigMap, mounted where Auth__ClientsFile points.
        var clientsFile = (string)settings["Auth__ClientsFile"]!;
        var clientsVolume = mounts.Single(m => m.Value == Path.GetDirectoryName(clientsFile)).Key;
        Assert.Equal("kling-gateway-clients", (string?)volumes[clientsVolume]["configMap"]!["name"]);

        // Kubernetes waits long enough for the shutdown timeout to let creates in flight finish.
        var shutdown = TimeSpan.Parse((string)settings["Gateway__ShutdownTimeout"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(int.Parse((string)pod["terminationGracePeriodSeconds"]!) > shutdown.TotalSeconds);
    }

    [Fact]
    public void Videos_AreKeptOnAClaimOfTheirOwn_WhereTheAppKeepsThem_SharedReadWriteManyInThePostgresOverlay()
    {
        var container = Container();
        var pod = Deployment()["spec"]!["template"]!["spec"]!;
        var settings = Base().Single(d => (string?)d["kind"] == "ConfigMap" && (string?)d["metadata"]!["name"] == "kling-gateway-settings")["data"]!;
        // Storage:Path is unset, so the app keeps videos beside the ledger.
        Assert.Null(settings["Storage__Path"]);
        var storage = new KlingGateway.Videos.StorageOptions().ResolveDirectory("/app", (string)settings["Ledger__Path"]!);
        var mounts = container["volumeMounts"]!.AsArray().ToDictionary(m => (string)m!["name"]!, m => (string)m!["mountPath"]!);
        var volume = mounts.Single(m => m.Value == storage).Key;
        var claim = (string)pod["volumes"]!.AsArray().Single(v => (string)v!["name"]! == volume)!["persistentVolumeClaim"]!["claimName"]!;
        var baseClaim = Base().Single(d => (string?)d["kind"] == "PersistentVolumeClaim" && (string?)d["metadata"]!["name"] == claim);
        Assert.Equal(["ReadWriteOnce"], baseClaim["spec"]!["accessModes"]!.AsArray().Select(a => (string)a!));

        var overlay = Path.Combine(Root, "deploy", "overlays", "postgres");
        var shared = Directory.GetFiles(overlay, "*.yaml").SelectMany(Documents)
            .Single(d => (string?)d["kind"] == "PersistentVolumeClaim" && (string?)d["metadata"]!["name"] == claim);
        Assert.Equal(["ReadWriteMany"], shared["spec"]!["accessModes"]!.AsArray().Select(a => (string)a!));
        var patches = Documents(Path.Combine(overlay, "kustomization.yaml")).Single()["patches"]!.AsArray().Select(p => (string)p!["path"]!);
        // The patch is applied: the overlay's kustomization lists the file that holds it.
        Assert.Contains(patches, p => Documents(Path.Combine(overlay, p))
            .Any(d => (string?)d["kind"] == "PersistentVolumeClaim" && (string?)d["metadata"]!["name"] == claim && d["spec"]?["accessModes"] is not null));

        var compose = Documents(Path.Combine(Root, "docker-compose.yml")).Single();
        Assert.Contains($"videos:{storage}", compose["services"]!["gateway"]!["volumes"]!.AsArray().Select(v => (string)v!));
        Assert.Contains($"mkdir -p {storage}", Dockerfile, StringComparison.Ordinal);
    }

    [Fact]
    public void Compose_GivesTheKeyAsASecretFileProbesWithTheAppAndKeepsTheLedgerOnAVolume()
    {
        var compose = Documents(Path.Combine(Root, "docker-compose.yml")).Single();
        var service = compose["services"]!["gateway"]!;
        var environment = service["environment"]!.AsObject();

        var secret = (string)service["secrets"]![0]!;
        Assert.Equal($"/run/secrets/{secret}", (string?)environment["AimlApi__ApiKeyFile"]);
        Assert.False(environment.ContainsKey("AimlApi__ApiKey"), "the key must never be a literal in the compose file");
        Assert.Equal("./secrets/aimlapi_key.txt", FileDefault((string)compose["secrets"]![secret]!["file"]!));
        Assert.Contains("secrets/", File.ReadAllLines(Path.Combine(Root, ".gitignore")));

        Assert.Equal(["CMD", "dotnet", "KlingGateway.dll", Probe.Argument], service["healthcheck"]!["test"]!.AsArray().Select(t => (string)t!));
        Assert.EndsWith($":{ExposedPort}", (string)service["ports"]![0]!, StringComparison.Ordinal);
        Assert.Equal($"ledger:{Path.GetDirectoryName(ImageLedgerPath)}", (string?)service["volumes"]![0]);
        Assert.Equal("true", (string?)service["read_only"]);
        Assert.False(string.IsNullOrEmpty((string?)service["restart"]));

        var simulator = compose["services"]!["simulator"]!;
        Assert.Equal(["demo"], simulator["profiles"]!.AsArray().Select(p => (string)p!));
        Assert.Equal(["dotnet", "KlingGateway.Simulator.dll"], simulator["entrypoint"]!.AsArray().Select(p => (string)p!));
    }

    [Fact]
    public void ComposeDemo_PointsTheGatewayAtTheSimulatorWithTheKeyBothRead()
    {
        var demo = File.ReadAllLines(Path.Combine(Root, "deploy", "compose", "demo.env"))
            .Where(l => l.Contains('=', StringComparison.Ordinal) && !l.StartsWith('#'))
            .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]);
        var compose = Documents(Path.Combine(Root, "docker-compose.yml")).Single();

        Assert.Equal("demo", demo["COMPOSE_PROFILES"]);
        var simulatorPort = ((string)compose["services"]!["simulator"]!["command"]![1]!).Split(':')[^1];
        Assert.Equal($"http://simulator:{simulatorPort}", demo["AIMLAPI_BASE_URL"]);
        Assert.True(File.Exists(Path.Combine(Root, demo["AIMLAPI_KEY_FILE"])));
        Assert.Equal("/run/secrets/aimlapi_key", (string?)compose["services"]!["simulator"]!["environment"]!["Simulator__ApiKeyFile"]);
    }

    [Fact]
    public void PostgresVariants_CountRequestsPerMinuteInOneRedisTheGatewayMayReach()
    {
        // Compose: the postgres profile adds a Redis, and its env file points the gateway at that service.
        var postgres = EnvFile(Path.Combine(Root, "deploy", "compose", "postgres.env"));
        var compose = Documents(Path.Combine(Root, "docker-compose.yml")).Single();
        var redis = compose["services"]!["redis"]!;
        var profiles = redis["profiles"]!.AsArray().Select(p => (string)p!).ToList();
        Assert.Contains("postgres", profiles);
        Assert.Contains(postgres["COMPOSE_PROFILES"].Split(','), profiles.Contains);
        Assert.Equal("${REDIS_CONNECTION_STRING:-}", (string?)compose["services"]!["gateway"]!["environment"]!["Redis__ConnectionString"]);
        Assert.Equal("redis:6379", postgres["REDIS_CONNECTION_STRING"].Split(',')[0]);
        Assert.Null(redis["ports"]);

        // Kubernetes: the overlay's replicas may reach Redis' port, and its guide names the setting they read.
        var policy = Documents(Path.Combine(Root, "deploy", "overlays", "postgres", "networkpolicy.yaml")).Single();
        var ports = policy["spec"]!["egress"]!.AsArray().SelectMany(rule => rule!["ports"]!.AsArray()).Select(port => (string?)port!["port"]);
        Assert.Contains("6379", ports);
        Assert.Contains("Redis__ConnectionString", File.ReadAllText(Path.Combine(Root, "deploy", "overlays", "postgres", "kustomization.yaml")), StringComparison.Ordinal);
    }

    private static Dictionary<string, string> EnvFile(string path) => File.ReadAllLines(path)
        .Where(l => l.Contains('=', StringComparison.Ordinal) && !l.StartsWith('#'))
        .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]);

    private HashSet<string> MappedRoutes()
    {
        gateway.CreateClient();
        return gateway.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>().Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/')).ToHashSet(StringComparer.Ordinal);
    }

    private static List<JsonNode> Base() =>
        [.. Directory.GetFiles(Path.Combine(Root, "deploy", "base"), "*.yaml").Where(f => !f.EndsWith("kustomization.yaml", StringComparison.Ordinal)).SelectMany(Documents)];

    private static JsonNode Deployment() => Base().Single(d => (string?)d["kind"] == "Deployment");

    private static JsonNode Container() => Deployment()["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!;

    /// <summary><c>${VAR:-default}</c> → default.</summary>
    private static string FileDefault(string value) => InterpolationDefault().Match(value) is { Success: true } m ? m.Groups[1].Value : value;

    /// <summary>Every YAML document in a file, as JSON nodes (scalars stay strings, as YAML wrote them).</summary>
    private static IEnumerable<JsonNode> Documents(string path)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(File.ReadAllText(path)));
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
        {
            yield return ToJson(deserializer.Deserialize<object>(parser)) ?? throw new InvalidDataException($"{path}: an empty document");
        }
    }

    private static JsonNode? ToJson(object? value) => value switch
    {
        null => null,
        IDictionary<object, object> map => new JsonObject(map.Select(p => KeyValuePair.Create((string)p.Key, ToJson(p.Value)))),
        IList<object> list => new JsonArray([.. list.Select(ToJson)]),
        _ => JsonValue.Create(value.ToString()),
    };

    [GeneratedRegex(@"^EXPOSE (\d+)$", RegexOptions.Multiline)]
    private static partial Regex ExposeLine();

    [GeneratedRegex(@"^USER (\d+)$", RegexOptions.Multiline)]
    private static partial Regex UserLine();

    [GeneratedRegex(@"Ledger__Path=(\S+)")]
    private static partial Regex LedgerEnvLine();

    [GeneratedRegex(@"^\$\{[A-Z_]+:-(.*)\}$")]
    private static partial Regex InterpolationDefault();
}
