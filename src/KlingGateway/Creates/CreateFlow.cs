using KlingGateway.Access;
using KlingGateway.Generations;
using KlingGateway.Infrastructure;
using KlingGateway.Models;
using KlingGateway.Upstream;
using KlingGateway.Webhooks;
using Microsoft.AspNetCore.Http.HttpResults;
using IDiagnosticContext = Serilog.IDiagnosticContext;

namespace KlingGateway.Creates;

/// <summary>What a create route answers: the generation, or a problem (refusal, upstream fault, or their replay).</summary>
public readonly record struct CreateAnswer(Generation? Generation, ProblemHttpResult? Problem);

/// <summary>
/// A create, top to bottom, for all three create routes (a body already validated by the route's filters): the gateway's
/// own headers, the <c>Idempotency-Key</c> held (or its first answer replayed), the generation admitted against the
/// caller's limits and inserted in the ledger before the upstream is called, the one forward, the audit event, and the
/// key completed with the answer. Scoped: it serves one request's caller.
/// </summary>
public sealed class CreateFlow(
    CurrentCaller current,
    CreateAudit audit,
    IdempotencyKeys keys,
    CreateAdmission admission,
    UpstreamStart upstream,
    RunningCreates running,
    ClientDirectory clients,
    WebhookDirectory webhooks,
    UpstreamFaultMapper faults,
    IDiagnosticContext requestLog)
{
    /// <summary>
    /// The callback URL a create may name: every event of the generation is also sent there as a signed webhook. A header,
    /// not a body field: the body is the upstream's body for the model, checked against the model catalog (which refuses
    /// unknown fields by name) and forwarded; a header is the gateway's own, never forwarded, and works on the compatible
    /// routes too, where the body must stay the upstream's.
    /// </summary>
    public const string WebhookUrlHeader = "Webhook-Url";

    public async Task<CreateAnswer> RunAsync(GenerationRequest request, HttpContext context, int successStatus)
    {
        var caller = current.Caller;
        var images = CreateAudit.ImageHashes(request);
        var cancellationToken = context.RequestAborted;

        // 1. The gateway's own headers: the Idempotency-Key and the callback.
        var (idempotencyKey, keyFault) = IdempotencyKeys.Read(context.Request.Headers[IdempotencyKeys.Header]);
        if (keyFault is not null)
        {
            return Refuse(caller, request, images, ProblemCatalog.InvalidIdempotencyKey, keyFault);
        }

        var (webhookUrl, callbackFault) = ReadWebhookUrl(context.Request.Headers[WebhookUrlHeader], caller);
        if (callbackFault is not null)
        {
            return Refuse(caller, request, images, ProblemCatalog.InvalidWebhookUrl, callbackFault);
        }

        // 2. The key: held by this request, or another's answer replayed. The callback is part of what the key stands
        // for: the same key with another callback is another request.
        var requestHash = IdempotencyKeys.RequestHash(request, webhookUrl);
        if (idempotencyKey is not null
            && await keys.HoldAsync(caller, idempotencyKey, requestHash, cancellationToken) is { } held)
        {
            var replay = await keys.AnswerHeldAsync(held, requestHash, caller, cancellationToken);
            if (replay.Refusal is { } refusal)
            {
                return Refuse(caller, request, images, refusal, replay.RefusalDetail!);
            }

            audit.Replayed(caller, replay.Generation!, images);
            context.Response.Headers[IdempotencyKeys.ReplayedHeader] = "true";
            return new CreateAnswer(replay.Generation, replay.ReplayedProblem);
        }

        // 3. The record, admitted against the caller's limits: inserted queued, or refused with nothing written.
        var model = request.Model ?? throw new InvalidOperationException("A validated request names a known model.");
        var generation = upstream.NewGeneration(request, context.ClientRequestId(), caller.Owner, clients.PricePerSecond(model))
            with { WebhookUrl = webhookUrl };
        using var tracked = running.Track(generation.Id);
        AdmissionOutcome admitted;
        try
        {
            admitted = await admission.AdmitAsync(generation, caller, idempotencyKey, cancellationToken);
        }
        catch when (idempotencyKey is not null)
        {
            // Nothing was created: free the key so a retry can run.
            await keys.ReleaseAsync(caller, idempotencyKey);
            throw;
        }

        if (!admitted.Admission.Admitted)
        {
            if (idempotencyKey is not null)
            {
                await keys.ReleaseAsync(caller, idempotencyKey);
            }

            var limit = admission.Refusal(context.Response, caller, generation, admitted);
            audit.Refused(caller, request.ModelId, images, limit.Code, limit.Detail);
            return new CreateAnswer(null, limit.Problem);
        }

        // 4. The one forward, its answer recorded, and the audit event.
        var outcome = await upstream.StartAsync(generation, request);
        generation = outcome.Generation!;
        requestLog.SetGeneration(generation);
        audit.Created(caller, generation, images);

        // 5. The key completed with the answer, or released when nothing was started.
        if (outcome.Fault is not { } fault)
        {
            if (idempotencyKey is not null)
            {
                await keys.CompleteAsync(caller, idempotencyKey, successStatus, null);
            }

            return new CreateAnswer(generation, null);
        }

        var problem = faults.ToProblem(context.Response, fault, generation.Id);
        if (idempotencyKey is not null)
        {
            if (fault.MayHaveStarted)
            {
                // The upstream may have started it: the key is kept, and a retry gets this very answer, not a second create.
                var (type, detail) = UpstreamFaultMapper.Describe(fault);
                await keys.CompleteAsync(caller, idempotencyKey, type.Status, new StoredProblem(type.Code, type.Status, detail, fault.StatusCode));
            }
            else
            {
                // A refusal started nothing: the key is released, so the retry its Retry-After invites runs afresh
                // (https://docs.stripe.com/api/idempotent_requests; draft-ietf-httpapi-idempotency-key-header, section 2.6).
                await keys.ReleaseAsync(caller, idempotencyKey);
            }
        }

        return new CreateAnswer(generation, problem);
    }

    /// <summary>The one callback URL a create names, if any, or why it is refused.</summary>
    private (string? Url, string? Fault) ReadWebhookUrl(Microsoft.Extensions.Primitives.StringValues callbacks, Caller caller)
    {
        if (callbacks.Count > 1)
        {
            return (null, "The request carries more than one Webhook-Url header; send at most one.");
        }

        if (callbacks.Count == 0)
        {
            return (null, null);
        }

        var url = callbacks[0] ?? "";
        return webhooks.IsAllowedCallback(caller.Client.Name, url, out var reason) ? (url, null) : (null, reason);
    }

    private CreateAnswer Refuse(Caller caller, GenerationRequest request, string images, ProblemType problem, string detail)
    {
        audit.Refused(caller, request.ModelId, images, problem.Code, detail);
        return new CreateAnswer(null, problem.Result(detail));
    }
}
