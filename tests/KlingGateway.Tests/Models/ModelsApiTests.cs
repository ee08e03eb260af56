using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace KlingGateway.Tests.Models;

/// <summary>The catalog frontends build their forms from.</summary>
public sealed class ModelsApiTests(GatewayFactory gateway) : IClassFixture<GatewayFactory>
{
    [Fact]
    public async Task Catalog_ListsTheFiveModelsWithTheirFields()
    {
        var catalog = await gateway.CreateClient().GetFromJsonAsync<JsonElement>("/v1/models");
        var models = catalog.GetProperty("models").EnumerateArray().ToList();

        Assert.Equal(Bodies.AllModels.Order(), models.Select(m => m.GetProperty("id").GetString()).Order());
        foreach (var model in models)
        {
            Assert.Equal(["universal", "legacy"], model.GetProperty("route_families").EnumerateArray().Select(f => f.GetString()));
            var imageUrl = model.GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "image_url");
            Assert.True(imageUrl.GetProperty("required").GetBoolean());
            Assert.Equal(300, imageUrl.GetProperty("image").GetProperty("min_side").GetInt32());
            Assert.Equal(16384, imageUrl.GetProperty("image").GetProperty("max_side").GetInt32());
        }
    }

    [Theory]
    [InlineData(Bodies.V1Standard, true, false, new string[0])]
    [InlineData(Bodies.V2Master, false, true, new[] { "cfg_scale", "static_mask", "dynamic_masks", "camera_control" })]
    [InlineData(Bodies.V21Pro, false, false, new[] { "cfg_scale", "static_mask", "dynamic_masks", "camera_control" })]
    public async Task OneModel_ByItsIdWithSlashes_DescribesItsOwnRules(string id, bool tailFrame, bool provider, string[] warned)
    {
        var model = await gateway.CreateClient().GetFromJsonAsync<JsonElement>($"/v1/models/{id}");
        var fields = model.GetProperty("fields").EnumerateArray().Select(f => f.GetProperty("name").GetString()).ToList();

        Assert.Equal(id, model.GetProperty("id").GetString());
        Assert.Equal(tailFrame, fields.Contains("tail_image_url"));
        Assert.Equal(provider, fields.Contains("provider"));
        Assert.Equal(warned, model.GetProperty("accepted_with_warning").EnumerateArray().Select(f => f.GetString()));
        var cfg = model.GetProperty("fields").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "cfg_scale");
        Assert.Equal(0, cfg.GetProperty("minimum").GetDouble());
        Assert.Equal(1, cfg.GetProperty("maximum").GetDouble());
    }

    [Fact]
    public async Task EscapedId_FindsTheModel()
    {
        var response = await gateway.CreateClient().GetAsync($"/v1/models/{Uri.EscapeDataString(Bodies.V21Standard)}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task UnknownModel_Is404ListingTheModels()
    {
        var response = await gateway.CreateClient().GetAsync("/v1/models/kling-video/v9/ultra");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains(Bodies.V2Master, problem.GetProperty("detail").GetString());
    }
}
