using System.Text.Json;
using System.Text.Json.Serialization;
using KlingGateway.Generations;
using KlingGateway.Models;

namespace KlingGateway.Infrastructure;

/// <summary>
/// Source-generated serialization for the gateway's own types (no reflection on the hot path), in the
/// upstream's style: snake_case names, nulls left out.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(GenerationResource))]
[JsonSerializable(typeof(GenerationList))]
[JsonSerializable(typeof(CompatibleGeneration))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelResource))]
[JsonSerializable(typeof(HealthAnswer))]
[JsonSerializable(typeof(KlingGateway.Access.ClientUsage))]
[JsonSerializable(typeof(KlingGateway.Webhooks.WebhookDeliveryResource))]
[JsonSerializable(typeof(KlingGateway.Webhooks.WebhookDeliveryList))]
public sealed partial class GatewayJsonContext : JsonSerializerContext;

public static class JsonExtensions
{
    public static IServiceCollection AddGatewayJson(this IServiceCollection services) =>
        services.ConfigureHttpJsonOptions(options =>
        {
            var json = options.SerializerOptions;
            json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            json.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            json.TypeInfoResolverChain.Insert(0, GatewayJsonContext.Default);
        });
}
