import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import api_reference

REPO = Path(__file__).resolve().parents[2]


def test_docs_api_md_is_current() -> None:
    assert api_reference.main(["--check"]) == 0, "run: python tools/api_reference.py"


def test_the_pipeline_functions_are_documented_with_their_parameters() -> None:
    text = (REPO / "docs" / "api.md").read_text()
    for name in ("api.denoise_file", "api.denoise_series", "api.denoise_folder", "batch.run_batch"):
        assert f"### `meddenoise.{name}`" in text
    assert "**Parameters**" in text
