using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using FluentValidation;
using FluentValidation.Results;

namespace KlingGateway.Models;

/// <summary>
/// Checks a create body against the <see cref="ModelCatalog"/> entry of its model (docs/upstream.md, "Validation"):
/// one set of rules for every model, driven by each field's <see cref="FieldKind"/> and limits. Every fault is
/// reported, keyed by its JSON path as the caller wrote it (<c>dynamic_masks[1].trajectories[3].x</c>); fields the
/// model takes but ignores yield <see cref="Severity.Warning"/> failures carrying the catalog's message.
/// When the model is missing or unknown the other fields are checked against every model's fields, so the caller
/// sees all faults at once. Messages read "&lt;path&gt; &lt;what is wrong and what is allowed&gt;." and never echo
/// image data; a bad value is quoted to at most 40 characters.
/// </summary>
public sealed partial class GenerationRequestValidator : AbstractValidator<GenerationRequest>
{
    public GenerationRequestValidator()
    {
        RuleFor(request => request).Custom((request, context) =>
        {
            // A rejected body (not JSON, not an object, too large) is answered by the filter before validation.
            if (request.Rejection == RequestRejection.None)
            {
                new Walk(request, context).Run();
            }
        });
    }

    private sealed partial class Walk(GenerationRequest request, ValidationContext<GenerationRequest> context)
    {
        /// <summary>Most faults listed in one answer. Past it the walk stops: what a body can cost is bounded by this.</summary>
        private const int MaxErrors = 100;

        private readonly ModelDefinition? model = request.Model;
        private int errors;
        private readonly IReadOnlyList<FieldSpec> fields = request.Model?.Fields ?? CatalogShapes.AllFields;

        // Catalog fields given a value other than null, recorded as the walk passes them.
        private readonly HashSet<string> present = new(StringComparer.Ordinal);

        /// <summary>More faults than an answer lists: nothing more is walked.</summary>
        private bool Full => errors > MaxErrors;

        public void Run()
        {
            // Fields the model ignores are accepted with the catalog's warning; the request read them from the body.
            foreach (var warning in request.Warnings)
            {
                context.AddFailure(new ValidationFailure(warning.Field, warning.Message) { Severity = Severity.Warning });
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in request.Root.EnumerateObject())
            {
                if (Full)
                {
                    return;
                }

                var name = PathName(property);
                if (!seen.Add(name))
                {
                    Error(name, "is given more than once; send each field once.");
                    continue;
                }

                var spec = Spec(name);
                if (spec is null)
                {
                    UnknownField(name);
                    continue;
                }

                var value = property.Value;
                if (value.ValueKind != JsonValueKind.Null)
                {
                    present.Add(name);
                }

                if (!spec.AcceptedOn(request.Route))
                {
                    Error(name, $"is taken only on the {RouteList(spec.Routes!)}; it is not a field of this route.");
                    continue;
                }

                if (value.ValueKind == JsonValueKind.Null)
                {
                    // null means "not given": fine when optional, reported below when required.
                    continue;
                }

                if (name == "model")
                {
                    CheckModel(value);
                }
                else
                {
                    CheckValue(spec, name, value);
                }

            }

            if (Full)
            {
                return;
            }

            foreach (var spec in fields)
            {
                if (spec.Required && spec.AcceptedOn(request.Route) && !Present(spec.Name))
                {
                    Error(spec.Name, spec.Name == "model"
                        ? $"is required: one of {Join(ModelCatalog.Ids)}."
                        : $"is required. {spec.Description}");
                }
            }

            if (model is not null)
            {
                CheckExclusiveGroups(model);
                CheckDurationLimits(model);
            }
        }

        private FieldSpec? Spec(string name)
        {
            foreach (var spec in fields)
            {
                if (spec.Name == name)
                {
                    return spec;
                }
            }

            return null;
        }

        private bool Present(string name) => present.Contains(name);

        private IReadOnlyList<string> AcceptedNames() =>
            acceptedNames ??= [.. fields.Where(f => f.AcceptedOn(request.Route)).Select(f => f.Name).Distinct()];

        private IReadOnlyList<string>? acceptedNames;
        private string? taken;

        private void UnknownField(string name)
        {
            taken ??= Join(AcceptedNames());
            if (model is not null && CatalogShapes.AllFields.FirstOrDefault(f => f.Name == name) is { } elsewhere)
            {
                var lacks = elsewhere.Noun is { } noun ? $": this model has no {noun}" : "";
                Error(name, $"is not taken by {model.Id}{lacks}. It takes: {taken}.");
                return;
            }

            var whose = model is null ? "The supported models take" : $"{model.Id} takes";
            Error(name, $"is not a known field{Suggest(name, AcceptedNames())}. {whose}: {taken}.");
        }

        private void CheckModel(JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.String)
            {
                Error("model", $"must be a string naming one of {Join(ModelCatalog.Ids)} (got {JsonKinds.Describe(value)}).");
            }
            else if (model is null)
            {
                Error("model", $"must be one of the supported models: {Join(ModelCatalog.Ids)} (got {Quote(value)}).");
            }
        }

        private void CheckValue(FieldSpec spec, string path, JsonElement value)
        {
            switch (spec.Kind)
            {
                case FieldKind.Text:
                    CheckText(spec, path, value);
                    break;
                case FieldKind.Enum:
                    CheckEnum(spec.AllowedValues ?? [], spec.IgnoreCase, path, value);
                    break;
                case FieldKind.Number:
                    CheckNumber(spec.Minimum, spec.Maximum, path, value);
                    break;
                case FieldKind.Duration:
                    CheckDuration(spec, path, value);
                    break;
                case FieldKind.Image:
                    CheckImage(spec.Image, path, value);
                    break;
                case FieldKind.DynamicMasks:
                    CheckDynamicMasks(spec, path, value);
                    break;
                case FieldKind.CameraControl:
                    CheckCameraControl(spec, path, value);
                    break;
            }
        }

        private void Error(string path, string message)
        {
            // A hostile body can hold a million bad fields; the answer stays small and names what was cut.
            errors++;
            if (errors <= MaxErrors)
            {
                context.AddFailure(new ValidationFailure(path, $"{path} {message}"));
            }
            else if (errors == MaxErrors + 1)
            {
                context.AddFailure(new ValidationFailure("$",
                    string.Create(CultureInfo.InvariantCulture, $"$ has more than {MaxErrors} faults; only the first {MaxErrors} are listed, and the rest of the body was not checked.")));
            }
        }

        private static string Index(string path, int index) =>
            string.Create(CultureInfo.InvariantCulture, $"{path}[{index}]");

        /// <summary>
        /// A property's name for a path: as sent, except that a name longer than any field's is cut (a body may hold a
        /// name of megabytes; the answer and the log do not repeat it).
        /// </summary>
        private static string PathName(JsonProperty property)
        {
            var raw = JsonMarshal.GetRawUtf8PropertyName(property);
            return raw.Length <= JsonText.MaxNameInPath ? property.Name : JsonText.DisplayName(raw);
        }

        private static int IndexOf(IReadOnlyList<string> names, JsonProperty property)
        {
            for (var i = 0; i < names.Count; i++)
            {
                if (property.NameEquals(names[i]))
                {
                    return i;
                }
            }

            return -1;
        }

        private static string RouteList(IReadOnlyList<CreateRoute> routes) =>
            string.Join(" and ", routes.Select(r => r switch
            {
                CreateRoute.Legacy => "legacy route (POST /v2/generate/video/kling/generation)",
                CreateRoute.Universal => "universal route (POST /v2/video/generations)",
                _ => "gateway route (POST /v1/generations)",
            }));
    }
}
