"""The pool manifest is a tracked artifact: it must not tie the pool to one checkout's absolute path."""

from pathlib import Path

import pytest

from r2_pipeline.pipelines.model_pool.nodes import project_relative, write_manifest

POOL = {"members": {"t1": {"backend": "transformers", "batch_size": 8},
                    "api": {"backend": "openai", "model": "m", "base_url": "http://x/v1"}}}


def test_trained_folders_are_written_relative_to_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = write_manifest({"t1": str(tmp_path / "data/06_models/pool/t1")}, POOL)
    assert manifest["t1"] == {"backend": "transformers", "batch_size": 8, "path": "data/06_models/pool/t1"}
    assert manifest["api"] == POOL["members"]["api"]  # endpoint members pass through unchanged


def test_the_manifest_resolves_from_another_checkout(tmp_path, monkeypatch):
    """Written in one clone, read in another: the relative path finds the second clone's folder."""
    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        (root / "data/06_models/pool/t1").mkdir(parents=True)
    monkeypatch.chdir(first)
    path = write_manifest({"t1": str(first / "data/06_models/pool/t1")}, POOL)["t1"]["path"]
    monkeypatch.chdir(second)
    assert Path(path).resolve() == (second / "data/06_models/pool/t1").resolve()


def test_folders_outside_the_project_stay_absolute(tmp_path):
    root, elsewhere = tmp_path / "project", tmp_path / "models/t1"
    root.mkdir()
    assert project_relative(str(elsewhere), root) == str(elsewhere)
    assert project_relative(str(root / "x" / "y"), root) == "x/y"


def test_an_explicit_path_is_kept_and_an_untrained_member_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pool = {"members": {"t1": {"backend": "transformers", "path": "/models/t1"}}}
    assert write_manifest({}, pool)["t1"]["path"] == "/models/t1"
    with pytest.raises(ValueError, match="'t1' has no path and was not trained"):
        write_manifest({}, POOL)


def test_members_are_the_parameters_with_the_manifests_trained_folders(tmp_path, monkeypatch):
    """An endpoint edited in the parameters after the manifest was written is the one called (and
    the one the preflight checks); the manifest only adds trained folders."""
    from r2_pipeline.pool.factory import member_specs

    monkeypatch.chdir(tmp_path)
    manifest = write_manifest({"t1": str(tmp_path / "data/06_models/pool/t1")}, POOL)
    moved = {"members": {**POOL["members"], "api": {**POOL["members"]["api"], "base_url": "http://y/v1"},
                         "t1": {**POOL["members"]["t1"], "batch_size": 64}}}
    specs = member_specs(manifest, moved)
    assert specs["api"]["base_url"] == "http://y/v1"
    assert specs["t1"] == {"backend": "transformers", "batch_size": 64, "path": "data/06_models/pool/t1"}
    untrained = {"members": {**POOL["members"], "t2": {"backend": "transformers"}}}
    with pytest.raises(ValueError, match=r"'t2' has no `path` and no trained folder in the pool manifest"):
        member_specs(manifest, untrained)


def test_loaded_backends_follow_the_project_root_and_a_retrained_folder(tmp_path, tiny_member):
    """Backends are loaded once per process, but the same relative folder in another project, or
    the folder rewritten since, loads afresh instead of reusing the old weights."""
    import os
    import shutil

    from r2_pipeline.paths import rooted
    from r2_pipeline.pool.factory import _backend

    for root in ("a", "b"):
        shutil.copytree(tiny_member, tmp_path / root / "data/06_models/pool/t1")
    spec = {"backend": "transformers", "path": "data/06_models/pool/t1"}
    with rooted(tmp_path / "a"):
        first = _backend("t1", spec)
        assert _backend("t1", spec) is first  # shared within a run
    with rooted(tmp_path / "b"):
        assert _backend("t1", spec) is not first
    weights = tmp_path / "a/data/06_models/pool/t1/model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # retrained
    with rooted(tmp_path / "a"):
        assert _backend("t1", spec) is not first
    # an endpoint serving a folder trained here: the folder, not the URL, says it was retrained
    served = {"backend": "openai", "base_url": "http://h:1/v1", "model": "t1", "weights": "data/06_models/pool/t1"}
    with rooted(tmp_path / "a"):
        before = _backend("t1", served)
        assert _backend("t1", served) is before
        (weights.parent / "adapter.bin").write_bytes(b"retrained")
        after = _backend("t1", served)
    assert after is not before and after.fingerprint != before.fingerprint
