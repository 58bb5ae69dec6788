import subprocess
import sys

import pytest

from meddenoise.errors import InputError, UnknownModelError
from meddenoise.models import MODELS, available_models, build_model, model_class


def test_registry_lists_the_paper_variants():
    assert available_models() == ("nen", "twn", "two_stage")


@pytest.mark.parametrize("name", list(MODELS))
def test_every_entry_builds_and_knows_its_name(name):
    model = build_model(name)
    assert model.arch == name
    assert model_class(name) is type(model)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownModelError) as info:
        build_model("unet")
    message = str(info.value)
    assert "'unet'" in message
    for name in available_models():
        assert name in message
    assert "\n" not in message


def test_config_is_passed_and_recorded():
    model = build_model("nen", width=16, growth=4, depth=1)
    assert model.config["width"] == 16
    assert model.head.out_channels == 16
    assert len(model.trunk.rrdbs) == 1
    assert model.receptive_radius == 15


def test_bad_config_key_is_an_input_error():
    with pytest.raises(InputError, match="bad configuration for model 'nen'"):
        build_model("nen", widht=16)


def test_registry_import_does_not_load_torch():
    code = "import sys, meddenoise.models as m; m.available_models(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
