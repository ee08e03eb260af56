namespace KlingGateway.Generations;

/// <summary>
/// Something the gateway accepted but the caller should know: a field the upstream takes and the model ignores
/// (docs/upstream.md, "Validation"). Returned in every create answer and kept with the generation.
/// </summary>
/// <param name="Field">The JSON path of the field, as the caller wrote it.</param>
/// <param name="Message">What happens to it.</param>
public sealed record GenerationWarning(string Field, string Message);
