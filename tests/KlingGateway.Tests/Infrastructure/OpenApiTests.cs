using System.Net;
using KlingGateway.Models;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;

namespace KlingGateway.Tests.Infrastructure;

/// <summary>The OpenAPI document a developer reads in Swagger UI: valid, complete, and free of the key.</summary>
public sealed class OpenApiTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    private async Task<(string Text, OpenApiDocument Document, OpenApiDiagnostic Diagnostic)> ReadDocumentAsync()
    {
        var text = await gateway.CreateClient().GetStringAsync("/swagger/v1/swagger.json");
        var result = OpenApiDocument.Parse(text, OpenApiConstants.Json, new OpenApiReaderSettings());
        return (text, result.Document!, result.Diagnostic!);
    }

    [Fact]
    public async Task Document_ReadsBackWithoutErrorsAndValidates()
    {
        var (_, document, diagnostic) = await ReadDocumentAsync();

        Assert.Empty(diagnostic.Errors);
        Assert.Empty(document.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? []);
    }

    [Fact]
    public async Task Document_NeverContainsTheKey()
    {
        var (text, _, _) = await ReadDocumentAsync();

        Assert.DoesNotContain(GatewayFactory.UpstreamKey, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryRoute_HasASummaryADescriptionAndProblemShapedErrors()
    {
        var (_, document, _) = await ReadDocumentAsync();
        var operations = document.Paths.SelectMany(p => p.Value.Operations!.Select(o => (Path: p.Key, Method: o.Key, Operation: o.Value))).ToList();

        // With GET /v1/usage, GET /v1/generations/{id}/content, the two event streams and the three webhook delivery routes.
        Assert.Equal(18, operations.Count);
        foreach (var (path, method, operation) in operations)
        {
            Assert.False(string.IsNullOrWhiteSpace(operation.Summary), $"{method} {path} has no summary");
            Assert.False(string.IsNullOrWhiteSpace(operation.Description), $"{method} {path} has no description");
            // Readiness answers 503 with its health report, which probes and operators read; every API error is a problem.
            foreach (var (status, response) in operation.Responses!.Where(r => r.Key[0] is '4' or '5' && !path.StartsWith("/health", StringComparison.Ordinal)))
            {
                Assert.True(response.Content!.ContainsKey("application/problem+json"), $"{method} {path} {status} is not a problem");
                Assert.False(string.IsNullOrWhiteSpace(response.Description));
            }
        }
    }

    [Theory]
    [InlineData("/v1/generations", "CreateRequest_")]
    [InlineData("/v2/video/generations", "CreateRequest_")]
    [InlineData("/v2/generate/video/kling/generation", "LegacyCreateRequest_")]
    public async Task CreateRoutes_TakeOneSchemaPerModelDiscriminatedByModel(string path, string prefix)
    {
        var (_, document, _) = await ReadDocumentAsync();
        var operation = document.Paths[path].Operations![HttpMethod.Post];
        Assert.Contains(operation.Parameters!, p => p.Name == "Idempotency-Key" && p.In == ParameterLocation.Header && p.Required == false);
        Assert.Contains(operation.Parameters!, p => p.Name == "Webhook-Url" && p.In == ParameterLocation.Header && p.Required == false);
        var body = operation.RequestBody!;
        var media = body.Content!["application/json"];

        Assert.True(body.Required);
        Assert.Equal("model", media.Schema!.Discriminator!.PropertyName);
        Assert.Equal(ModelCatalog.Ids.Order(), media.Schema.Discriminator.Mapping!.Keys.Order());
        Assert.All(media.Schema.Discriminator.Mapping.Values, reference => Assert.StartsWith(prefix, reference.Reference.Id));
        Assert.Equal(ModelCatalog.All.Count, media.Schema.OneOf!.Count);
        Assert.Equal("Mona Lisa puts on glasses with her hands.", media.Example!["prompt"]!.GetValue<string>());
    }

    [Fact]
    public async Task ModelSchemas_FollowTheCatalog()
    {
        var (_, document, _) = await ReadDocumentAsync();
        var schemas = document.Components!.Schemas!;

        var v1 = schemas["CreateRequest_v1_standard"];
        Assert.Contains("tail_image_url", v1.Properties!.Keys);
        Assert.DoesNotContain("provider", v1.Properties.Keys);
        Assert.DoesNotContain("type", v1.Properties.Keys);
        Assert.Equal(["image_url", "model"], v1.Required!.Order());
        Assert.Equal("1", v1.Properties["cfg_scale"].Maximum);
        Assert.False(v1.AdditionalPropertiesAllowed);

        var v2 = schemas["CreateRequest_v2_master"];
        Assert.DoesNotContain("tail_image_url", v2.Properties!.Keys);
        Assert.Contains("provider", v2.Properties.Keys);
        Assert.Contains("Accepted with a warning", v2.Properties["camera_control"].Description);

        var legacy = schemas["LegacyCreateRequest_v2_1_pro"];
        Assert.Contains("type", legacy.Properties!.Keys);
        Assert.Contains("external_task_id", legacy.Properties.Keys);
    }

    [Fact]
    public async Task SwaggerUi_IsServed()
    {
        var response = await gateway.CreateClient().GetAsync("/swagger/index.html");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("swagger-ui", await response.Content.ReadAsStringAsync());
    }
}
