using System.Reflection;
using Microsoft.OpenApi;

namespace KlingGateway.Infrastructure;

/// <summary>The OpenAPI document at <c>/swagger/v1/swagger.json</c> and Swagger UI at <c>/swagger</c>, in every environment.</summary>
public static class OpenApiExtensions
{
    public const string DocumentName = "v1";
    private const string ApiKeyScheme = "ApiKey";

    public static IServiceCollection AddGatewayOpenApi(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(options =>
        {
            options.SwaggerDoc(DocumentName, new()
            {
                Title = "KlingGateway",
                Version = "v1",
                Description =
                    "A gateway in front of the AI/ML API's Kling image-to-video models. It validates each request against its " +
                    "model's rules before anything is spent, attaches the server-held key (callers never send or see one), " +
                    "gives each generation its own id and one normalized status, and offers drop-in copies of the upstream's " +
                    "own routes. A generation takes minutes: create it, then follow its events (a server-sent-events stream, " +
                    "or signed webhooks to your own endpoints) or poll its status.",
            });

            // "Authorize" in Swagger UI: the key typed there is sent as X-Api-Key and kept in the browser; the document
            // itself only names the header.
            options.AddSecurityDefinition(ApiKeyScheme, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = "X-Api-Key",
                Description = "A client key of this gateway (not the AI/ML API key). It may also be sent as Authorization: Bearer.",
            });
            options.AddSecurityRequirement(document => new OpenApiSecurityRequirement
            {
                [new OpenApiSecuritySchemeReference(ApiKeyScheme, document)] = [],
            });

            // Nullable annotations decide what the document calls nullable and required.
            options.SupportNonNullableReferenceTypes();
            options.NonNullableReferenceTypesAsRequired();
            options.DocumentFilter<ModelRequestSchemasFilter>();
            options.OperationFilter<ProblemResponsesFilter>();
            options.OperationFilter<ModelRequestSchemasFilter>();
            options.OperationFilter<IntegerQueryFilter>();

            var xml = Path.Combine(AppContext.BaseDirectory, $"{Assembly.GetExecutingAssembly().GetName().Name}.xml");
            if (File.Exists(xml))
            {
                options.IncludeXmlComments(xml);
            }
        });
        return services;
    }

    public static WebApplication UseGatewayOpenApi(this WebApplication app)
    {
        app.UseSwagger();
        app.UseSwaggerUI(options =>
        {
            options.SwaggerEndpoint($"/swagger/{DocumentName}/swagger.json", "KlingGateway v1");
            options.DocumentTitle = "KlingGateway";
            options.DisplayRequestDuration();
        });
        return app;
    }
}
