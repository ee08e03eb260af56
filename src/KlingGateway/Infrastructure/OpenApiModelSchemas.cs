using System.Globalization;
using System.Text.Json.Nodes;
using KlingGateway.Models;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Request schemas generated from <see cref="ModelCatalog"/>, one per model (and a legacy-route variant), so the
/// document can never drift from the rules the gateway enforces. Create operations take their <c>oneOf</c>,
/// discriminated by <c>model</c>, with the upstream docs' Mona Lisa request as the example.
/// </summary>
internal sealed class ModelRequestSchemasFilter : IDocumentFilter, IOperationFilter
{
    private const string MonaLisa = "https://raw.githubusercontent.com/aimlapi/api-docs/main/reference-files/mona_lisa_extended.jpg";

    public static string SchemaId(ModelDefinition model, CreateRoute route) =>
        (route == CreateRoute.Legacy ? "LegacyCreateRequest_" : "CreateRequest_") + model.Key;

    public void Apply(OpenApiDocument document, DocumentFilterContext context)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        foreach (var model in ModelCatalog.All)
        {
            document.Components.Schemas[SchemaId(model, CreateRoute.Gateway)] = RequestSchema(model, CreateRoute.Gateway);
            document.Components.Schemas[SchemaId(model, CreateRoute.Legacy)] = RequestSchema(model, CreateRoute.Legacy);
        }
    }

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var route = context.ApiDescription.ActionDescriptor.EndpointMetadata.OfType<CreateRouteMetadata>().FirstOrDefault()?.Route;
        if (route is not { } createRoute)
        {
            return;
        }

        // Every create route takes an Idempotency-Key (Creates/IdempotencyKeys.cs): retries with it never bill twice.
        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = "Idempotency-Key",
            In = ParameterLocation.Header,
            Required = false,
            Description = "Makes a retry safe: the same key with the same body returns the same generation and never calls the " +
                          "upstream twice; the same key with another body is a 422 problem. Kept for 24 hours.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 255 },
        });

        // And a callback URL of its own (Creates/CreateFlow.cs, Webhooks/).
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = "Webhook-Url",
            In = ParameterLocation.Header,
            Required = false,
            Description = "A callback URL for this generation: each of its events is also sent there as a signed webhook (Standard " +
                          "Webhooks). It must be an absolute http(s) URL under one of the client's allowed callback URLs " +
                          "(Auth:Clients:{name}:Webhooks:Callbacks:AllowedUrls), else the create is a 400 invalid_webhook_url problem.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "uri", MaxLength = 2048 },
        });

        var document = context.Document;
        var schemaRoute = createRoute == CreateRoute.Legacy ? CreateRoute.Legacy : CreateRoute.Gateway;
        var references = ModelCatalog.All.ToDictionary(m => m.Id, m => new OpenApiSchemaReference(SchemaId(m, schemaRoute), document));
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Description = "The upstream's request body for the chosen model; the model field selects the schema. Unknown fields are rejected.",
            Content = new Dictionary<string, IOpenApiMediaType>
            {
                ["application/json"] = new OpenApiMediaType
                {
                    Schema = new OpenApiSchema
                    {
                        OneOf = [.. references.Values],
                        Discriminator = new OpenApiDiscriminator { PropertyName = "model", Mapping = references },
                    },
                    Example = new JsonObject
                    {
                        ["model"] = "klingai/v2-master-image-to-video",
                        ["prompt"] = "Mona Lisa puts on glasses with her hands.",
                        ["image_url"] = MonaLisa,
                        ["duration"] = "5",
                    },
                },
            },
        };
    }

    private static OpenApiSchema RequestSchema(ModelDefinition model, CreateRoute route)
    {
        var fields = model.Fields.Where(f => f.AcceptedOn(route)).ToList();
        var schema = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Title = model.Id,
            Description = $"{model.Name}. {model.Description}" + Rules(model),
            AdditionalPropertiesAllowed = false,
            Required = new HashSet<string>(fields.Where(f => f.Required).Select(f => f.Name)),
            Properties = fields.ToDictionary(f => f.Name, f => (IOpenApiSchema)FieldSchema(f)),
            Examples =
            [
                new JsonObject
                {
                    ["model"] = model.Id,
                    ["prompt"] = "Mona Lisa puts on glasses with her hands.",
                    ["image_url"] = MonaLisa,
                    ["duration"] = model.Field("duration")?.Default,
                },
            ],
        };
        return schema;
    }

    private static string Rules(ModelDefinition model)
    {
        var rules = new List<string>();
        if (model.ExclusiveGroups.Count > 0)
        {
            rules.Add("At most one of: " + string.Join("; ", model.ExclusiveGroups.Select(g => string.Join(" + ", g))) + ".");
        }

        rules.AddRange(model.DurationLimits.Select(d => $"With {string.Join(" or ", d.Fields)}, duration must be {string.Join(" or ", d.AllowedDurations)}."));
        return rules.Count == 0 ? "" : " " + string.Join(" ", rules);
    }

    private static OpenApiSchema FieldSchema(FieldSpec field)
    {
        var description = field.IgnoredWarning is null ? field.Description : $"{field.Description} Accepted with a warning: {field.IgnoredWarning}";
        var schema = field.Kind switch
        {
            FieldKind.Text => new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = field.MaxLength },
            FieldKind.Enum => new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Enum = field.IgnoreCase ? null : [.. field.AllowedValues!.Select(v => (JsonNode)v)],
            },
            FieldKind.Number => new OpenApiSchema { Type = JsonSchemaType.Number, Minimum = Number(field.Minimum), Maximum = Number(field.Maximum) },
            FieldKind.Duration => new OpenApiSchema
            {
                // Every upstream example sends the string; the spec says integer. Both are taken.
                OneOf =
                [
                    new OpenApiSchema { Type = JsonSchemaType.Integer, Enum = [.. field.AllowedValues!.Select(v => (JsonNode)int.Parse(v, CultureInfo.InvariantCulture))] },
                    new OpenApiSchema { Type = JsonSchemaType.String, Enum = [.. field.AllowedValues!.Select(v => (JsonNode)v)] },
                ],
            },
            FieldKind.Image => new OpenApiSchema { Type = JsonSchemaType.String },
            FieldKind.DynamicMasks => new OpenApiSchema
            {
                Type = JsonSchemaType.Array,
                MaxItems = field.MaxItems,
                Items = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    AdditionalPropertiesAllowed = false,
                    Required = new HashSet<string> { CatalogShapes.MaskProperty, CatalogShapes.TrajectoriesProperty },
                    Properties = new Dictionary<string, IOpenApiSchema>
                    {
                        [CatalogShapes.MaskProperty] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The mask image: an absolute http(s) URL or base64 JPEG/PNG data." },
                        [CatalogShapes.TrajectoriesProperty] = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Array,
                            MinItems = (field.Trajectory ?? ModelCatalog.Trajectory).MinPoints,
                            MaxItems = (field.Trajectory ?? ModelCatalog.Trajectory).MaxPoints,
                            Description = "The motion path in pixels, origin at the bottom-left of the image.",
                            Items = new OpenApiSchema
                            {
                                Type = JsonSchemaType.Object,
                                AdditionalPropertiesAllowed = false,
                                Required = new HashSet<string> { "x", "y" },
                                Properties = new Dictionary<string, IOpenApiSchema>
                                {
                                    ["x"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
                                    ["y"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
                                },
                            },
                        },
                    },
                },
            },
            FieldKind.CameraControl => new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                AdditionalPropertiesAllowed = false,
                Required = new HashSet<string> { "type" },
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [.. field.AllowedValues!.Select(v => (JsonNode)v)] },
                    ["config"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        AdditionalPropertiesAllowed = false,
                        Description = $"With type {ModelCatalog.SingleMoveCameraType}, exactly one value is non-zero; with any other type, leave it out.",
                        Properties = ModelCatalog.CameraConfigKeys.ToDictionary(k => k, _ => (IOpenApiSchema)new OpenApiSchema
                        {
                            Type = JsonSchemaType.Number,
                            Minimum = Number(field.Minimum),
                            Maximum = Number(field.Maximum),
                        }),
                    },
                },
            },
            _ => throw new ArgumentOutOfRangeException(nameof(field), field.Kind, null),
        };

        schema.Description = description;
        if (field.Default is { } value)
        {
            schema.Default = value;
        }

        return schema;
    }

    private static string? Number(double? value) => value?.ToString(CultureInfo.InvariantCulture);
}
