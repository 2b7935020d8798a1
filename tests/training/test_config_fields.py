"""The cached field names of TRL's and PEFT's config classes are the classes' own, and a run that
finds them cached imports neither library."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from r2_pipeline.training import config_fields as cf

ROOT = Path(__file__).parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def test_the_cached_names_are_the_class_fields(cache):
    import peft
    import trl

    for module, cls in ((trl, "SFTConfig"), (trl, "GRPOConfig"), (peft, "LoraConfig")):
        expected = {f.name for f in dataclasses.fields(getattr(module, cls))}
        assert cf.config_fields(module.__name__, cls) == expected  # imported, then stored
        assert cf.config_fields(module.__name__, cls) == expected  # read back
    assert cf.cache_file().parent == cache / "r2-pipeline"
    assert "trl-" in cf.cache_file().name and "peft-" in cf.cache_file().name


def test_a_cached_name_is_read_without_importing(cache, monkeypatch):
    cf.cache_file().parent.mkdir(parents=True)
    cf.cache_file().write_text('{"trl.SFTConfig": ["max_length", "output_dir"]}')
    monkeypatch.setattr(cf.importlib, "import_module", lambda name: pytest.fail(f"imported {name}"))
    assert cf.config_fields("trl", "SFTConfig") == {"max_length", "output_dir"}


def test_a_damaged_cache_file_is_rewritten(cache):
    cf.cache_file().parent.mkdir(parents=True)
    cf.cache_file().write_text("[not json")
    assert "max_length" in cf.config_fields("trl", "SFTConfig")
    assert "max_length" in cf.cache_file().read_text()


@pytest.mark.slow  # fresh interpreters
def test_validating_the_parameters_twice_imports_trl_once(cache):
    """The second `kedro` run on one machine validates the SFT and GRPO blocks without TRL."""
    code = ("import glob, sys, yaml; from r2_pipeline.params import validate_params; "
            "validate_params({k: v for f in glob.glob('conf/base/parameters_*.yml') "
            "for k, v in yaml.safe_load(open(f)).items()}); print('trl' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [run.stdout.split()[-1] for run in runs] == ["True", "False"]
