using System.IdentityModel.Tokens.Jwt;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;
using Xunit.Sdk;

namespace KlingGateway.Tests.Access;

/// <summary>Clients, keys and tokens the access tests use, and gateways configured with them.</summary>
internal static class AccessHosts
{
    public const string AlphaKey = "alpha-client-key-8d1f0c2e9b7a4e65";
    public const string BetaKey = "beta-client-key-51c3e7a09f2d4b18";
    public const string AdminKey = "ops-admin-key-0a7e4c19d2b84f3a";
    public const string SigningKey = "test-only-signing-key-4b1d9e7c2f0a8e63-0123456789";
    public const string Audience = "kling-gateway";
    public const string Issuer = "https://login.example.test/company";

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Anonymous callers off; clients alpha, beta and ops (admin); JWTs signed with the test key.</summary>
    public static Dictionary<string, string?> Settings(params (string Key, string? Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Auth:AllowAnonymous"] = "false",
            ["Auth:Defaults:RequestsPerMinute"] = "0",
            ["Auth:Defaults:MaxInFlight"] = "0",
            ["Auth:Clients:alpha:KeyHashes:0"] = Hash(AlphaKey),
            ["Auth:Clients:beta:KeyHashes:0"] = Hash(BetaKey),
            ["Auth:Clients:ops:KeyHashes:0"] = Hash(AdminKey),
            ["Auth:Clients:ops:Roles:0"] = "admin",
            ["Auth:Jwt:SigningKey"] = SigningKey,
            ["Auth:Jwt:Audience"] = Audience,
            ["Auth:Jwt:Issuer"] = Issuer,
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    public static async Task<GatewayFactory> StartAsync(Dictionary<string, string?> settings)
    {
        var gateway = new GatewayFactory(settings);
        await gateway.InitializeAsync();
        return gateway;
    }

    public static Task StopAsync(GatewayFactory gateway) => ((IAsyncLifetime)gateway).DisposeAsync();

    public static HttpClient Client(GatewayFactory gateway, string? key, string? userToken = null)
    {
        var client = gateway.CreateClient();
        if (key is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        if (userToken is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", userToken);
        }

        return client;
    }

    /// <summary>A company user's token, signed as the identity provider would (HMAC here, RSA/ECDSA from a real one).</summary>
    public static string UserToken(string user, string signingKey = SigningKey, string audience = Audience) =>
        new JwtSecurityTokenHandler().WriteToken(new JwtSecurityToken(
            Issuer, audience, [new Claim("sub", user)], DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddMinutes(10),
            new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(signingKey)), SecurityAlgorithms.HmacSha256)));

    public static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpClient client, HttpMethod method, string path, object? body = null, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var json = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, json, response);
    }

    public static Task<(int Status, JsonElement Body, HttpResponseMessage Response)> CreateAsync(HttpClient client, object body, string? idempotencyKey = null, string route = "/v1/generations") =>
        SendAsync(client, HttpMethod.Post, route, body, idempotencyKey);

    public static async Task<string> CreatedIdAsync(HttpClient client, object body, string? idempotencyKey = null)
    {
        var (status, json, _) = await CreateAsync(client, body, idempotencyKey);
        if (status != 202)
        {
            throw new XunitException($"create answered {status}: {json}");
        }

        return json.GetProperty("id").GetString()!;
    }

    public static Dictionary<string, object?> Body(string model = Bodies.V1Pro, int duration = 5, string? directives = null)
    {
        var body = Bodies.Minimal(model, directives);
        body["duration"] = duration.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return body;
    }
}
