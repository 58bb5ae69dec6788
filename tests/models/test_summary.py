from meddenoise.models import build_model
from meddenoise.models.summary import summarize_model


def test_two_stage_costs_38_34_gmac_at_256():
    rows = {r.name: r for r in summarize_model(build_model("two_stage"), height=256, width=256)}
    assert rows["total"].parameters == 586_242
    assert f"{rows['total'].macs / 1e9:.2f}" == "38.34"
    # conv weights (no biases) x output pixels
    assert rows["total"].macs == 585_026 * 256 * 256
    assert rows["NEN"].macs + rows["RN"].macs == rows["total"].macs
    assert rows["NOB"].parameters == 18_594


def test_macs_scale_with_pixels():
    small = summarize_model(build_model("nen"), height=10, width=20)[-1]
    large = summarize_model(build_model("nen"), height=20, width=40)[-1]
    assert large.macs == 4 * small.macs
    assert [r.name for r in summarize_model(build_model("nen"), height=4, width=4)] == [
        "NEN",
        "total",
    ]
