using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;

namespace KlingGateway.Access;

/// <summary>
/// The caller of this request, as a scoped service a handler takes as a parameter. Filled by the authentication step
/// (<see cref="CurrentCallerClaims"/>), so a route that requires a caller always has one; a route open without credentials
/// (the video content route with a signed link) sees <see cref="Value"/> null when none was sent.
/// </summary>
public sealed class CurrentCaller
{
    /// <summary>The authenticated caller, or null when the request carried no valid credentials.</summary>
    public Caller? Value { get; internal set; }

    /// <summary>The caller of a route that requires one (<see cref="AccessServiceCollectionExtensions.RequireCaller{TBuilder}"/>).</summary>
    public Caller Caller => Value
        ?? throw new InvalidOperationException("The route was reached without an authenticated caller; it must require authorization.");
}

/// <summary>
/// Fills <see cref="CurrentCaller"/> from the principal the gateway's scheme made: the client it names, looked up once per
/// request in the <see cref="ClientDirectory"/>, and the user of a company token. The principal itself is left as it is.
/// </summary>
internal sealed class CurrentCallerClaims(CurrentCaller current, ClientDirectory clients) : IClaimsTransformation
{
    public Task<ClaimsPrincipal> TransformAsync(ClaimsPrincipal principal)
    {
        // Also called for the JWT scheme the gateway's scheme asks inside: that principal names no client, and is skipped.
        if (principal.FindFirstValue(Caller.ClientClaim) is { } name
            && (current.Value is null || current.Value.Client.Name != name))
        {
            current.Value = new Caller(clients.Find(name), principal.FindFirstValue(Caller.UserClaim));
        }

        return Task.FromResult(principal);
    }
}
