using System.Data.Common;
using System.Globalization;

namespace KlingGateway.Ledger;

/// <summary>
/// How values are written to and read from the ledger's columns, the same in SQLite and PostgreSQL: parameters, and
/// the text forms of times and money.
/// </summary>
/// <remarks>
/// Timestamps are stored as fixed-width ISO-8601 UTC text with all seven fractional digits in both databases, so text
/// order is time order, a value reads back to the exact tick (the cursor compares ticks), and the first ten characters
/// are the UTC day the usage report groups by. Money is stored as whole micro-dollars, so sums are exact.
/// </remarks>
internal static class LedgerValues
{
    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public const decimal MicrosPerUsd = 1_000_000m;

    /// <summary>Adds a parameter; a null value goes in as SQL NULL.</summary>
    public static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    public static long ToMicros(decimal usd) => (long)decimal.Round(usd * MicrosPerUsd, MidpointRounding.AwayFromZero);

    public static string FormatTimestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    public static string? FormatTimestamp(DateTimeOffset? value) =>
        value is { } time ? FormatTimestamp(time) : null;

    public static DateTimeOffset ParseTimestamp(string text) =>
        DateTimeOffset.ParseExact(
            text, TimestampFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    public static string? GetStringOrNull(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static DateTimeOffset? GetTimestampOrNull(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : ParseTimestamp(reader.GetString(ordinal));

    public static double? GetDoubleOrNull(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    public static int ToInt32(object? value) => Convert.ToInt32(value, CultureInfo.InvariantCulture);

    public static long ToInt64(object? value) => Convert.ToInt64(value, CultureInfo.InvariantCulture);
}
