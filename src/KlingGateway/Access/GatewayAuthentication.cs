using System.Security.Claims;
using System.Text.Encodings.Web;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace KlingGateway.Access;

/// <summary>Who is calling: the client (frontend) and, with a company JWT, the user.</summary>
public sealed record Caller(ClientEntry Client, string? User)
{
    public const string ClientClaim = "kling_client";
    public const string UserClaim = "kling_user";

    /// <summary>The owner a generation this caller creates gets.</summary>
    public GenerationOwner Owner => new(Client.Name, User);

    public bool IsAdmin => Client.IsAdmin;

    /// <summary>Whether this caller may see the generation: its owner, or an admin.</summary>
    public bool CanSee(Generation generation) => IsAdmin || Owner.Owns(generation);
}

/// <summary>
/// The gateway's one authentication scheme. <c>X-Api-Key</c> names the client; <c>Authorization: Bearer</c> carries
/// either a client key (when there is no <c>X-Api-Key</c>) or a company user's JWT (validated by the JwtBearer handler).
/// An <c>X-Api-Key</c> that matches no client, or a token shaped like a JWT that does not validate, is a 401 problem.
/// With <see cref="AuthOptions.AllowAnonymous"/>, a request with no credentials, or with a Bearer value that is neither
/// a client key nor a JWT (the upstream docs' <c>Bearer &lt;YOUR_AIMLAPI_KEY&gt;</c> placeholder), is the anonymous client:
/// a client written for the upstream keeps working with only its base URL changed.
/// </summary>
public sealed partial class GatewayAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ClientDirectory clients,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "Gateway";
    public const string JwtSchemeName = "Jwt";
    public const string ApiKeyHeader = "X-Api-Key";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var settings = clients.Options;
        ClientEntry? client = null;
        string? user = null;

        var apiKey = Request.Headers[ApiKeyHeader].ToString();
        if (apiKey.Length > 0)
        {
            client = clients.FindByKey(apiKey);
            if (client is null)
            {
                return AuthenticateResult.Fail("The X-Api-Key matches no client of this gateway.");
            }
        }

        var bearer = BearerToken(Request.Headers.Authorization.ToString());
        if (bearer is not null)
        {
            var bearerClient = client is null ? clients.FindByKey(bearer) : null;
            if (bearerClient is not null)
            {
                client = bearerClient;
            }
            else if (settings.Jwt.Enabled && LooksLikeJwt(bearer))
            {
                var jwt = await Context.AuthenticateAsync(JwtSchemeName);
                if (!jwt.Succeeded || jwt.Principal is null)
                {
                    return AuthenticateResult.Fail("The bearer token is not a valid token from the company's identity provider.");
                }

                user = jwt.Principal.FindFirstValue(settings.Jwt.UserClaim);
                if (string.IsNullOrEmpty(user))
                {
                    return AuthenticateResult.Fail($"The bearer token has no '{settings.Jwt.UserClaim}' claim naming the user.");
                }

                client ??= clients.Find(settings.Jwt.Client);
            }
            else if (client is null && !settings.AllowAnonymous)
            {
                return AuthenticateResult.Fail("The bearer token is neither a client key of this gateway nor a valid user token.");
            }

            // Otherwise the value is ignored: a placeholder from the upstream's docs, or a stray header beside X-Api-Key.
        }

        if (client is null)
        {
            if (!settings.AllowAnonymous)
            {
                return AuthenticateResult.NoResult();
            }

            client = clients.Find(GenerationOwner.AnonymousClient);
        }

        var claims = new List<Claim> { new(Caller.ClientClaim, client.Name) };
        if (user is not null)
        {
            claims.Add(new Claim(Caller.UserClaim, user));
        }

        if (client.IsAdmin)
        {
            claims.Add(new Claim(ClaimTypes.Role, AuthOptionsValidator.AdminRole));
        }

        var identity = new ClaimsIdentity(claims, SchemeName, Caller.ClientClaim, ClaimTypes.Role);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var detail = result.Failure?.Message
            ?? "This gateway needs a client key: send it as X-Api-Key or Authorization: Bearer, optionally with a user's token.";
        LogRefused(Logger, Request.Method, Request.Path.Value, result.Failure is null ? "no credentials" : "invalid credentials");

        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = clients.Options.Jwt.Enabled ? "ApiKey, Bearer" : "ApiKey";
        var type = result.Failure is null ? ProblemCatalog.Unauthenticated : ProblemCatalog.InvalidCredentials;
        await problems.WriteAsync(new ProblemDetailsContext { HttpContext = Context, ProblemDetails = type.Details(detail) });
    }

    private static string? BearerToken(string authorization) =>
        authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && authorization.Length > 7
            ? authorization[7..].Trim()
            : null;

    /// <summary>Three base64url segments, the first starting like a JSON object (<c>eyJ</c>): a compact JWS.</summary>
    private static bool LooksLikeJwt(string token) =>
        token.StartsWith("eyJ", StringComparison.Ordinal) && token.Count(c => c == '.') == 2;

    // Method and path only: never a header, so never a key or a token.
    [LoggerMessage(EventId = 6010, Level = LogLevel.Information,
        Message = "Refused {RequestMethod} {RequestPath}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string requestMethod, string? requestPath, string reason);
}
