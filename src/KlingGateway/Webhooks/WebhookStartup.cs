using KlingGateway.Videos;

namespace KlingGateway.Webhooks;

/// <summary>Says at start what webhooks will do, and what they lack.</summary>
internal sealed partial class WebhookStartup(WebhookDirectory directory, VideoLinks links, ILogger<WebhookStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (directory.AnyConfigured && links.PublicBaseUrl is null)
        {
            LogNoPublicBaseUrl(logger);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 9120, Level = LogLevel.Warning,
        Message = "Webhooks are configured but Videos:PublicBaseUrl is not: the video links in webhook bodies are relative (/v1/generations/{{id}}/content?token=...). Set Videos:PublicBaseUrl to the gateway's address as receivers reach it")]
    private static partial void LogNoPublicBaseUrl(ILogger logger);
}
