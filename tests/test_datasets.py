"""The model-folder datasets: a save that fails midway leaves the previous folder whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DatasetError

from r2_pipeline.datasets import ModelFolderDataset, ModelFoldersDataset
from r2_pipeline.training.tiny import char_tokenizer, tiny_model


@pytest.fixture(scope="module")
def model_and_tokenizer():
    tokenizer = char_tokenizer("0123456789+=")
    return tiny_model(tokenizer, hidden_size=8, num_hidden_layers=1, num_attention_heads=1), tokenizer


class Exploding:
    def save_pretrained(self, folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "partial.bin").write_text("half")
        raise OSError("disk full")


def test_folder_round_trip_and_failed_save_keeps_old(tmp_path, model_and_tokenizer):
    dataset = ModelFolderDataset(str(tmp_path / "allocator"))
    dataset.save(model_and_tokenizer)
    path = dataset.load()
    assert (Path(path) / "config.json").exists()
    before = sorted(p.name for p in Path(path).iterdir())

    with pytest.raises(DatasetError, match="Failed while saving"):
        dataset.save((Exploding(), model_and_tokenizer[1]))
    assert sorted(p.name for p in Path(path).iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["allocator"]  # no staging folder left behind

    dataset.save(model_and_tokenizer)  # a later save replaces it
    assert sorted(p.name for p in Path(path).iterdir()) == before


def test_folders_failed_save_keeps_every_old_member(tmp_path, model_and_tokenizer):
    dataset = ModelFoldersDataset(str(tmp_path / "pool"))
    dataset.save({"t1": model_and_tokenizer, "t2": model_and_tokenizer})
    assert set(dataset.load()) == {"t1", "t2"}

    with pytest.raises(DatasetError, match="Failed while saving"):
        dataset.save({"t1": model_and_tokenizer, "t2": (Exploding(), model_and_tokenizer[1])})
    assert set(dataset.load()) == {"t1", "t2"}
    assert [p.name for p in tmp_path.iterdir()] == ["pool"]

    dataset.save({})  # an empty pool (paper profile) is a valid result
    assert dataset.load() == {}
