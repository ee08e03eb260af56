using KlingGateway.Models;

namespace KlingGateway.Infrastructure;

/// <summary>Request size limits and how the host stops. Section <c>Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>
    /// Largest create body. A first and a last frame of 10 MB each are about 27 MB as base64, so the default leaves
    /// room for both and the other fields; anything larger is a 413 problem. Create routes raise the server's own
    /// per-request limit to this; every other route keeps Kestrel's default.
    /// </summary>
    public long MaxRequestBodyBytes { get; set; } = GenerationRequest.MaxBodyBytes;

    /// <summary>
    /// How long a stopping host (SIGTERM) lets requests in flight finish before it aborts them. A create cut off here
    /// may have started paid work upstream without the ledger learning its id, so this should cover the creates you
    /// expect to be in flight; orchestrators must allow a little more (Kubernetes terminationGracePeriodSeconds).
    /// See <see cref="HostingExtensions"/>.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

public static class LimitsExtensions
{
    public static IServiceCollection AddGatewayLimits(this IServiceCollection services)
    {
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section)
            .Validate(o => o.MaxRequestBodyBytes is >= 1024 * 1024 and <= int.MaxValue,
                "Gateway:MaxRequestBodyBytes must be between 1048576 (1 MB) and 2147483647.")
            .ValidateOnStart();
        return services;
    }
}
