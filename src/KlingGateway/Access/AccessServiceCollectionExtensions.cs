using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace KlingGateway.Access;

/// <summary>Who may call and how much: identity, the scoped caller, authorization and rate limits.</summary>
public static partial class AccessServiceCollectionExtensions
{
    public const string CallerPolicy = "caller";

    public static IServiceCollection AddGatewayAccess(this IServiceCollection services)
    {
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        services.AddSingleton<ClientDirectory>();
        services.AddScoped<CurrentCaller>();
        services.AddScoped<IClaimsTransformation, CurrentCallerClaims>();
        services.AddHostedService<AccessStartup>();

        services.AddAuthentication(GatewayAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, GatewayAuthenticationHandler>(GatewayAuthenticationHandler.SchemeName, null)
            // Only ever called by the gateway's scheme, for a Bearer value shaped like a JWT.
            .AddJwtBearer(GatewayAuthenticationHandler.JwtSchemeName, _ => { });
        services.AddOptions<JwtBearerOptions>(GatewayAuthenticationHandler.JwtSchemeName)
            .Configure<IOptions<AuthOptions>>((jwt, auth) =>
            {
                var settings = auth.Value.Jwt;
                // Claims keep their names as issued ("sub", not a long URI), so Auth:Jwt:UserClaim means what the token says.
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters.ValidAudience = settings.Audience;
                jwt.TokenValidationParameters.NameClaimType = settings.UserClaim;
                if (!string.IsNullOrWhiteSpace(settings.Authority))
                {
                    jwt.Authority = settings.Authority;
                    jwt.Audience = settings.Audience;
                }
                else if (!string.IsNullOrWhiteSpace(settings.SigningKey))
                {
                    jwt.TokenValidationParameters.IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(settings.SigningKey));
                    jwt.TokenValidationParameters.ValidateIssuer = !string.IsNullOrWhiteSpace(settings.Issuer);
                    jwt.TokenValidationParameters.ValidIssuer = settings.Issuer;
                }

                if (!string.IsNullOrWhiteSpace(settings.Issuer))
                {
                    jwt.TokenValidationParameters.ValidIssuer = settings.Issuer;
                }
            });

        services.AddAuthorizationBuilder()
            .AddPolicy(CallerPolicy, policy => policy
                .AddAuthenticationSchemes(GatewayAuthenticationHandler.SchemeName)
                .RequireClaim(Caller.ClientClaim));

        services.AddClientRateLimiting();
        return services;
    }

    /// <summary>
    /// Authentication, the per-client rate limiter and its headers, then authorization. After <c>UseRouting</c>: the rate
    /// limiter and authorization read the endpoint's policies.
    /// </summary>
    public static WebApplication UseGatewayAccess(this WebApplication app)
    {
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseRateLimitHeaders();
        app.UseAuthorization();
        return app;
    }

    /// <summary>The route needs a caller (a client key, a user's token, or anonymous where allowed) and is rate limited per client.</summary>
    public static TBuilder RequireCaller<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(CallerPolicy).RequireRateLimiting(ClientRateLimiting.PolicyName);

    /// <summary>Loads the clients (an invalid clients file stops the start) and says when anonymous callers are let in.</summary>
    private sealed partial class AccessStartup(ClientDirectory clients, ILogger<AccessStartup> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var options = clients.Options;
            if (options.AllowAnonymous)
            {
                LogAnonymousAllowed(logger);
            }
            else if (options.Clients.Count == 0 && !options.Jwt.Enabled)
            {
                LogNobodyAllowed(logger);
            }

            LogClients(logger, options.Clients.Count, options.Jwt.Enabled);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(EventId = 6020, Level = LogLevel.Warning,
            Message = "Auth:AllowAnonymous is on: callers without a client key are served as the client 'anonymous' with the default limits. Turn it off and configure Auth:Clients before exposing this gateway")]
        private static partial void LogAnonymousAllowed(ILogger logger);

        [LoggerMessage(EventId = 6021, Level = LogLevel.Warning,
            Message = "No client is configured (Auth:Clients, Auth:ClientsFile) and JWTs are off: every request will be refused with 401")]
        private static partial void LogNobodyAllowed(ILogger logger);

        [LoggerMessage(EventId = 6022, Level = LogLevel.Information,
            Message = "Access: {ClientCount} clients configured, company JWTs {JwtEnabled}")]
        private static partial void LogClients(ILogger logger, int clientCount, bool jwtEnabled);
    }
}
