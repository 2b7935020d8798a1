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


def test_a_manifest_that_no_longer_matches_the_parameters_is_refused(tmp_path, monkeypatch):
    """An endpoint edited in the parameters after the manifest was written: the preflight checks
    the parameters, so the nodes must not quietly call the manifest's old endpoint."""
    from r2_pipeline.pool.factory import check_manifest

    monkeypatch.chdir(tmp_path)
    manifest = write_manifest({"t1": str(tmp_path / "data/06_models/pool/t1")}, POOL)
    check_manifest(manifest, POOL)  # the trained folder is the manifest's own addition
    moved = {"members": {**POOL["members"], "api": {**POOL["members"]["api"], "base_url": "http://y/v1"}}}
    with pytest.raises(ValueError, match=r"does not match pool\.members .* \['api'\]: rewrite it"):
        check_manifest(manifest, moved)
    grown = {"members": {**POOL["members"], "new": {"backend": "openai", "model": "n", "base_url": "http://z/v1"}}}
    with pytest.raises(ValueError, match=r"\['new'\]"):
        check_manifest(manifest, grown)
    pinned = {"members": {**POOL["members"], "t1": {**POOL["members"]["t1"], "path": "elsewhere/t1"}}}
    with pytest.raises(ValueError, match=r"\['t1'\]"):  # a path set in the parameters must be the manifest's
        check_manifest(manifest, pinned)
