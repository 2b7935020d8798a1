"""Nodes of `model_pool`: train the micro tiers, describe the pool, measure its capability ladder."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pandas as pd

from ...paths import project_root
from ...pool.factory import pool_from_params
from ...tasks import micro
from ...training.ladder import ladder_accuracy, step_pairs, train_tier
from .params import LADDER_SAMPLES

logger = logging.getLogger(__name__)


def train_tiers(model_pool: dict) -> tuple[dict, pd.DataFrame]:
    """Train every configured tier from scratch; returns the models and one row of facts per tier."""
    models, rows = {}, []
    tiers = model_pool["tiers"]
    for number, (name, tier) in enumerate(tiers.items(), 1):
        label = f"tier {name} ({number}/{len(tiers)})"
        spec = {k: v for k, v in tier.items() if k not in ("init_from", "compound_working")}
        parent = tier.get("init_from")
        working = tier.get("compound_working")
        if working is None:
            working = model_pool.get("compound_working", False)
        logger.info("%s: training %d steps%s%s", label, tier["steps"], f" from {parent}" if parent else "",
                    ", showing a compound's working" if working else "")
        init = models[parent][0] if parent else None
        model, tokenizer, info = train_tier(**spec, seed=model_pool["seed"], init_from=init, label=label,
                                            compound_working=working)
        logger.info("%s: trained in %.0fs, final loss %.4f", label, info["seconds"], info["final_loss"])
        models[name] = (model, tokenizer)
        rows.append({"member": name, "init_from": parent or "", "compound_working": working, **info,
                     **{k: str(v) for k, v in spec.items()}})
    return models, pd.DataFrame(rows)


def project_relative(path: str, root: Path | None = None) -> str:
    """`path` relative to `root` (default: the project root, paths.project_root) when it lies inside it.

    Kedro hands datasets absolute paths; written into a tracked artifact, those would tie it to one
    checkout, and a `dvc pull` or a moved clone would point the pool at folders that are not there."""
    root = (root or project_root()).resolve()
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def write_manifest(pool_models: dict[str, str], pool: dict) -> dict:
    """Member -> backend spec; a trained member without a `path` gets its trained folder, relative
    to the project root, so the manifest stays valid in any checkout."""
    manifest = {}
    for name, member in pool["members"].items():
        spec = dict(member)
        if spec["backend"] == "transformers" and "path" not in spec:
            if name not in pool_models:
                raise ValueError(f"pool member {name!r} has no path and was not trained")
            spec["path"] = project_relative(pool_models[name])
        manifest[name] = spec
    return manifest


# the seeds of the ladder's samples: a stream of their own, apart from evaluation's seeds
LADDER_SEED = 30_000


def measure_ladder(pool_manifest: dict, pool: dict, model_pool: dict) -> tuple[pd.DataFrame, dict]:
    """Per-member, per-bucket success rate on held-out subtasks (one step, or a compound),
    `ladder_samples` samples each, as a table and as MLflow metrics."""
    rng = random.Random(model_pool["seed"] + 10_000)
    heldout = {
        b: step_pairs([b], model_pool["heldout_per_bucket"], rng.randrange(1 << 30)) for b in micro.ALL_BUCKETS
    }
    built = pool_from_params(pool_manifest, pool)
    sampling = micro.member_sampling(LADDER_SEED)
    table = pd.DataFrame(ladder_accuracy(built, heldout, sampling, model_pool.get("ladder_samples", LADDER_SAMPLES)))
    metrics = {
        f"{r.member}.bucket_{r.bucket}": {"value": float(r.accuracy), "step": 0}
        for r in table.itertuples()
    }
    return table, metrics
