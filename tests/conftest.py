"""Shared fixtures: a tiny real model folder, fake bucket members for orchestration unit tests, the
whole chain reproduced once on the test parameters, and offline environment defaults."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from r2_pipeline.pool.base import Completion
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.tasks import micro

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("R2_PROJECT_ROOT", None)  # paths.ROOT_ENV: relative paths follow each test's own setup


@pytest.fixture(scope="session")
def tiny_member(tmp_path_factory):
    """A real (briefly trained) micro pool member saved as a Hugging Face folder."""
    from r2_pipeline.training.ladder import train_tier
    from r2_pipeline.training.tiny import save_model

    model, tokenizer, _ = train_tier(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=1, buckets=[1], steps=30,
        n_examples=500, batch_size=64, learning_rate=3e-3,
    )
    return str(save_model(model, tokenizer, tmp_path_factory.mktemp("member") / "t1"))


@pytest.fixture(scope="session")
def chain_project(tmp_path_factory) -> tuple[Path, str]:
    """A copy of the project whose base parameters are the tiny test ones, the whole chain reproduced
    once with `dvc repro` (each stage a `kedro run --pipelines <name>`): its folder and what the
    reproduction printed. Shared by the tests that drive the chain's outputs, so it runs once."""
    root, bin_ = Path(__file__).parents[1], Path(sys.executable).parent
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1",
           "PATH": f"{bin_}:{os.environ['PATH']}"}
    dest = tmp_path_factory.mktemp("project") / "r2"
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns(".venv", ".git", "mlflow.db", "mlruns", "*.pyc", "data"))
    for layer in (root / "data").iterdir():
        if layer.is_dir():
            (dest / "data" / layer.name).mkdir(parents=True, exist_ok=True)
    for override in (dest / "conf" / "test").glob("parameters_*.yml"):
        shutil.copy(override, dest / "conf" / "base" / override.name)
    output = ""
    for cmd in (["dvc", "config", "core.no_scm", "true"], ["dvc", "repro"]):
        done = subprocess.run([str(bin_ / cmd[0]), *cmd[1:]], cwd=dest, env=env, capture_output=True, text=True,
                              timeout=1200, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        output = done.stdout
    return dest, output

class BucketMember:
    """Answers a micro member prompt exactly when its bucket <= `skill`, else wrongly; confident
    (log-probability 0) on buckets it masters, unsure above them."""

    def __init__(self, skill: int):
        self.skill = skill
        self.fingerprint = f"bucket-{skill}"
        self.calls: list[str] = []

    def generate(self, prompts, sampling):
        self.calls += prompts
        out = []
        for prompt in prompts:
            step = micro.parse_expression(f"{int(prompt[:3])} {prompt[3]} {int(prompt[4:7])}")
            good = step.bucket <= self.skill
            text = micro.member_answer(step) if good else "000"
            out.append(Completion(text, len(prompt), 4, [0.0, 0.0, 0.0, 0.0] if good else [-2.0, -2.0, -2.0, 0.0]))
        return out



class Blind:
    """A server that ignores the request for log-probabilities: right answers, none attached."""

    fingerprint = "blind"

    def generate(self, prompts, sampling):
        return [Completion("007", len(p), 3, None) for p in prompts]


@pytest.fixture
def blind():
    return Blind()

@pytest.fixture
def ladder_pool():
    members = {f"t{k}": BucketMember(k) for k in range(1, 6)}
    prices = PriceTable.from_config(
        {f"t{k}": {"input_per_m": 10 ** (k - 3), "output_per_m": 10 ** (k - 3), "date": "d", "source": "s"}
         for k in range(1, 6)}
    )
    return ModelPool(members, prices)


def prompt_subtask(prompt: str):
    """The subtask a micro member prompt asks (`085+040-017=`, `432*006=`)."""
    body = prompt.rstrip("=")
    if len(body) > 2 * micro.WIDTH + 1:
        first = micro.Step(int(body[:3]), body[3], int(body[4:7]))
        return micro.Compound(first, body[7], int(body[8:11]))
    return micro.Step(int(body[:3]), body[3], int(body[4:7]))


class ChanceMember:
    """Right on a subtask of bucket b with probability `chance[b]`, decided by (seed, prompt)."""

    temperature = 1.0  # it samples: every seed is its own draw

    def __init__(self, name: str, chance: dict[int, float]):
        self.chance, self.fingerprint = chance, f"chance-{name}"

    def generate(self, prompts, sampling):
        out = []
        for prompt in prompts:
            subtask = prompt_subtask(prompt)
            draw = int(hashlib.sha256(f"{sampling.seed}/{prompt}".encode()).hexdigest()[:8], 16) / 16**8
            good = draw < self.chance.get(subtask.bucket, 0.0)
            out.append(Completion(micro.member_answer(subtask) if good else "999", len(prompt), 4, [0.0] * 4))
        return out


def _chance_pool(chances: dict[str, dict[int, float]]) -> ModelPool:
    prices = PriceTable.from_config({m: {"input_per_m": 10.0 ** k, "output_per_m": 10.0 ** k, "date": "d",
                                         "source": "s"} for k, m in enumerate(chances)})
    return ModelPool({m: ChanceMember(m, c) for m, c in chances.items()}, prices)


@pytest.fixture
def chance_pool():
    """A factory: member name -> {bucket: chance of a right answer}, priced 10^k by position."""
    return _chance_pool
