using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace KlingGateway.Playground;

/// <summary>The playground page's settings (<c>Playground</c> section).</summary>
public sealed class PlaygroundOptions
{
    public const string Section = "Playground";

    /// <summary>Serve the page at <c>/playground</c>. Unset: on in Development, off elsewhere.</summary>
    public bool? Enabled { get; set; }

    public bool IsEnabled(IHostEnvironment environment) => Enabled ?? environment.IsDevelopment();
}

/// <summary>
/// The playground: a page, served by the gateway itself, that builds a create form from <c>GET /v1/models</c>, runs
/// a generation, watches it and plays its video. Its files are plain ES modules and CSS under
/// <c>wwwroot/playground/</c>, served as they are (no build step):
/// <list type="table">
/// <item><term>GET /playground</term><description>the page (also <c>/playground/</c>)</description></item>
/// <item><term>GET /playground/{file}</term><description>its scripts, styles and icon</description></item>
/// </list>
/// When the page is off, none of these exist: they answer 404 like any unknown path.
/// </summary>
public static partial class PlaygroundEndpoints
{
    public const string PagePath = "/playground";
    private const string Folder = "playground";
    private const string IndexFile = "index.html";

    public static IServiceCollection AddPlayground(this IServiceCollection services)
    {
        services.AddOptions<PlaygroundOptions>().BindConfiguration(PlaygroundOptions.Section).ValidateOnStart();
        // Swagger UI's description links the page only where it is served.
        services.AddOptions<SwaggerGenOptions>().PostConfigure<IOptions<PlaygroundOptions>, IHostEnvironment>((swagger, playground, environment) =>
        {
            if (playground.Value.IsEnabled(environment)
                && swagger.SwaggerGeneratorOptions.SwaggerDocs.TryGetValue(Infrastructure.OpenApiExtensions.DocumentName, out var document))
            {
                document.Description += $" To try a model from the browser, open the [playground]({PagePath}).";
            }
        });
        return services;
    }

    /// <summary><c>/</c> leads to the playground where it is served, else to Swagger UI.</summary>
    public static RedirectHttpResult Home(IOptions<PlaygroundOptions> options, IHostEnvironment environment) =>
        TypedResults.Redirect(options.Value.IsEnabled(environment) ? PagePath : "/swagger");

    public static WebApplication MapPlayground(this WebApplication app)
    {
        if (!app.Services.GetRequiredService<IOptions<PlaygroundOptions>>().Value.IsEnabled(app.Environment))
        {
            return app;
        }

        var files = app.Environment.WebRootFileProvider;
        if (!files.GetFileInfo($"{Folder}/{IndexFile}").Exists)
        {
            throw new InvalidOperationException(
                $"Playground:Enabled (Playground__Enabled) is on, but {Folder}/{IndexFile} is not in the web root " +
                $"({app.Environment.WebRootPath ?? "none"}). Run the gateway from its published directory, or turn the playground off.");
        }

        var staticFiles = new StaticFileOptions
        {
            FileProvider = new PrefixedFileProvider(files, Folder),
            RequestPath = PagePath,
            ContentTypeProvider = ContentTypes(),
            OnPrepareResponse = context => AddPageHeaders(context.Context.Response),
        };

        app.UseWhen(context => context.Request.Path.StartsWithSegments(PagePath, StringComparison.Ordinal), page =>
        {
            // The page itself at /playground and /playground/; every other path is a file of the folder or a 404.
            page.Use(async (context, next) =>
            {
                var asked = context.Request.Path;
                if (asked.Value is PagePath or PagePath + "/")
                {
                    context.Request.Path = $"{PagePath}/{IndexFile}";
                }

                try
                {
                    await next(context);
                }
                finally
                {
                    // The request log names the path the browser asked for.
                    context.Request.Path = asked;
                }
            });
            page.UseStaticFiles(staticFiles);
        });

        LogServed(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(PlaygroundEndpoints)), PagePath);
        return app;
    }

    /// <summary>
    /// Only the gateway's own origin, for everything the page loads or calls (it runs behind a firewall: nothing from
    /// a CDN), with one exception for data the page makes itself: <c>blob:</c> for a chosen image's preview and for a
    /// video fetched with the client key. Videos come from the gateway's content route, never from the upstream's
    /// host. No inline script or style, no frames, no plugins. https://www.w3.org/TR/CSP3/
    /// </summary>
    internal const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
        "media-src 'self' blob:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>The page's kinds of file, and no others: anything else in the folder is not served.</summary>
    private static FileExtensionContentTypeProvider ContentTypes()
    {
        var provider = new FileExtensionContentTypeProvider();
        provider.Mappings.Clear();
        provider.Mappings[".html"] = "text/html; charset=utf-8";
        provider.Mappings[".js"] = "text/javascript; charset=utf-8";
        provider.Mappings[".css"] = "text/css; charset=utf-8";
        provider.Mappings[".svg"] = "image/svg+xml";
        return provider;
    }

    private static void AddPageHeaders(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Revalidated on every load (the static file answer carries an ETag), so a new gateway version is used at once.
        headers.CacheControl = "no-cache";
    }

    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "The playground is served at {PlaygroundPath}")]
    private static partial void LogServed(ILogger logger, string playgroundPath);

    /// <summary>One folder of a file provider, so the page's files are all that <c>/playground/*</c> can reach.</summary>
    private sealed class PrefixedFileProvider(IFileProvider inner, string folder) : IFileProvider
    {
        public IFileInfo GetFileInfo(string subpath) => inner.GetFileInfo($"{folder}/{subpath.TrimStart('/')}");

        public IDirectoryContents GetDirectoryContents(string subpath) => inner.GetDirectoryContents($"{folder}/{subpath.TrimStart('/')}");

        public Microsoft.Extensions.Primitives.IChangeToken Watch(string filter) => inner.Watch($"{folder}/{filter.TrimStart('/')}");
    }
}
