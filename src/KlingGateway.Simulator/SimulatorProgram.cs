namespace KlingGateway.Simulator;

/// <summary>Entry point when the simulator runs as its own process.</summary>
public static class SimulatorProgram
{
    public static void Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var app = builder.Build();
        app.Run();
    }
}
