using System.Globalization;

namespace KlingGateway.Models;

public sealed partial class GenerationRequestValidator
{
    /// <summary>Rules across fields: exclusive groups and the durations some fields restrict.</summary>
    private sealed partial class Walk
    {
        private void CheckExclusiveGroups(ModelDefinition definition)
        {
            List<string>? first = null;
            foreach (var group in definition.ExclusiveGroups)
            {
                var present = group.Where(f => Present(f) && Spec(f) is { } s && s.AcceptedOn(request.Route)).ToList();
                if (present.Count == 0)
                {
                    continue;
                }

                if (first is null)
                {
                    first = present;
                    continue;
                }

                var choices = string.Join("; ", definition.ExclusiveGroups.Select(g => string.Join(" or ", g)));
                foreach (var field in present)
                {
                    Error(field, $"cannot be combined with {string.Join(" and ", first)}: {definition.Id} takes only one of: {choices}.");
                }
            }
        }

        private void CheckDurationLimits(ModelDefinition definition)
        {
            if (request.Duration is not { } duration)
            {
                return;
            }

            foreach (var limit in definition.DurationLimits)
            {
                if (limit.AllowedDurations.Contains(duration))
                {
                    continue;
                }

                var present = limit.Fields.Where(Present).ToList();
                if (present.Count > 0)
                {
                    var allowed = string.Join(" or ", limit.AllowedDurations);
                    Error("duration", string.Create(CultureInfo.InvariantCulture,
                        $"must be {allowed} when {string.Join(" and ", present)} {(present.Count == 1 ? "is" : "are")} given: " +
                        $"{definition.Id} takes {string.Join(", ", limit.Fields)} only at {allowed} s (got {duration})."));
                }
            }
        }
    }
}
