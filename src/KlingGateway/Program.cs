using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;

// A container health check (`dotnet KlingGateway.dll --probe`): answered before any host is built.
if (Probe.IsRequested(args))
{
    return await Probe.RunAsync(args, Console.Out);
}

var builder = WebApplication.CreateBuilder(args);

builder.AddGatewayHosting();
builder.AddGatewayLogging();
builder.Services.AddGatewayJson();
builder.Services.AddGatewayProblemDetails();
builder.Services.AddGatewayLimits();
builder.Services.AddGenerationValidation();
builder.Services.AddUpstream();
builder.Services.AddGenerations(builder.Configuration);
builder.Services.AddGatewayAccess();
builder.Services.AddGatewayHealthChecks();
builder.Services.AddGatewayOpenApi();
builder.Services.AddGatewayTelemetry();

var app = builder.Build();

app.UseGatewayRequestLogging();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseGatewayOpenApi();
app.UseGatewayAccess();

app.MapGet("/", () => TypedResults.Redirect("/swagger")).ExcludeFromDescription();
app.MapModels();
app.MapGenerations();
app.MapCompatibleRoutes();
app.MapUsage();
app.MapGatewayHealthChecks();

return app.RunGateway();
