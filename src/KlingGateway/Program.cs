using KlingGateway.Access;
using KlingGateway.Creates;
using KlingGateway.Events;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Lifecycle;
using KlingGateway.Models;
using KlingGateway.Playground;
using KlingGateway.Upstream;
using KlingGateway.Videos;
using KlingGateway.Webhooks;

// A container health check (`dotnet KlingGateway.dll --probe`): answered before any host is built.
if (Probe.IsRequested(args))
{
    return await Probe.RunAsync(args, Console.Out);
}

var builder = WebApplication.CreateBuilder(args);

builder.AddGatewayHosting();
builder.AddGatewayLogging();
builder.Services.AddGatewayMetrics();
builder.Services.AddGatewayJson();
builder.Services.AddGatewayProblemDetails();
builder.Services.AddGatewayLimits();
builder.Services.AddUpstream();
builder.Services.AddGenerations(builder.Configuration);
builder.Services.AddGenerationLifecycle();
builder.Services.AddVideos();
builder.Services.AddEvents();
builder.Services.AddWebhooks();
builder.Services.AddGatewayAccess();
builder.Services.AddCreates();
builder.Services.AddGatewayHealthChecks();
builder.Services.AddGatewayOpenApi();
builder.AddGatewayTelemetry();
builder.Services.AddPlayground();

var app = builder.Build();

app.UseGatewayRequestLogging();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseGatewayOpenApi();
app.UseRouting();
app.UseGatewayAccess();

app.MapGet("/", PlaygroundEndpoints.Home).ExcludeFromDescription();
app.MapModels();
app.MapCreates();
app.MapGenerations();
app.MapGenerationEvents();
app.MapVideoContent();
app.MapCompatibleRoutes();
app.MapUsage();
app.MapWebhooks();
app.MapGatewayHealthChecks();
app.MapPlayground();

return app.RunGateway();
