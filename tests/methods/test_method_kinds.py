"""Adding a method kind is one class and one registry line: a toy kind registered here is validated
with the parameters and runs through the evaluation pipeline's own nodes, like the built-in ones."""

import time

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from r2_pipeline.methods import METHOD_KINDS, Method
from r2_pipeline.methods.base import questions, result
from r2_pipeline.reasoning.execute import execute, fixed_member

WORLD = {"seed": 3, "sizes": {"train": 1, "validation": 1, "test": 6}, "min_steps": 1, "max_steps": 2,
         "bucket_weights": [1, 1, 0, 0, 0]}


class Rung(Method):
    """Every step of the teacher's decomposition to one rung of the ladder (0 = cheapest)."""

    rung: int = 0

    def default_name(self) -> str:
        return f"rung_{self.rung}"

    def family(self) -> str:
        return "rungs"

    def tags(self, evaluation) -> dict[str, str]:
        return {"rung": str(self.rung)}

    def run(self, pool, task, examples, sampling, context):
        start, member = time.time(), context.ladder[self.rung]
        plans = [task.reference_subtasks(e) for e in examples]
        return result(self, execute(pool, task, questions(examples), plans, fixed_member(member), sampling), start)


@pytest.fixture
def toy_kind(monkeypatch):
    monkeypatch.setitem(METHOD_KINDS, "rung", Rung)


def test_a_registered_kind_is_validated_with_the_parameters(toy_kind):
    import copy
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from test_params import base_params

    from r2_pipeline.params import ParameterError, validate_params

    params = copy.deepcopy(base_params())
    params["evaluation"]["methods"] = ["single", {"kind": "rung", "rung": 2}, {"kind": "rung", "name": "top", "rung": 4}]
    params["evaluation"]["comparisons"] = {"pairs": [["rung_2", "largest"], ["top", "rung_2"]]}
    validate_params(params)
    params["evaluation"]["methods"][1] = {"kind": "rung", "rung": "high"}
    with pytest.raises(ParameterError, match=r"evaluation\.methods\.1: rung method: rung = 'high'"):
        validate_params(params)
    params["evaluation"]["methods"][1] = {"kind": "rung", "name": "again", "rung": 4}
    with pytest.raises(ParameterError, match="'again' and 'top' are one reading"):
        validate_params(params)


def test_a_registered_kind_runs_through_the_evaluation_nodes(toy_kind, ladder_pool, monkeypatch):
    from r2_pipeline.pipelines.data_generation.nodes import generate_world
    from r2_pipeline.pipelines.evaluation import nodes
    from r2_pipeline.pipelines.evaluation.pipeline import create_pipeline

    monkeypatch.setattr(nodes, "pool_from_params", lambda manifest, pool: ladder_pool)
    prices = {f"t{k}": {"input_per_m": 10 ** (k - 3), "output_per_m": 10 ** (k - 3), "date": "d", "source": "s"}
              for k in range(1, 6)}
    pool = {"members": {m: {"backend": "transformers"} for m in prices}, "prices": prices, "price_table": "test"}
    evaluation = {"benchmarks": {"micro": {}}, "experiment": "unused", "sampling": {"max_new_tokens": 4},
                  "methods": [{"kind": "single", "member": "t5"}, {"kind": "rung", "rung": 0},
                              {"kind": "rung", "name": "top", "rung": 4}],
                  "comparisons": {"pairs": [["rung_0", "largest"]], "resamples": 50}}
    inputs = {"world_test": generate_world({"world": WORLD})[2], "pool_manifest": {}, "params:pool": pool,
              "params:evaluation": evaluation, "member_outcomes": None, "params:data_generation": {}}
    catalog = DataCatalog({name: MemoryDataset(data) for name, data in inputs.items()})
    pipeline = create_pipeline(routers={}).only_nodes("evaluate_methods_node", "summarize_node",
                                                      "compare_methods_node")
    out = {name: dataset.load() for name, dataset in SequentialRunner().run(pipeline, catalog).items()}

    metrics = out["metrics"]["micro"]
    assert list(metrics) == ["single:t5", "rung_0", "top"]
    assert metrics["top"]["accuracy"] == metrics["single:t5"]["accuracy"] == 1.0  # t5 masters every bucket
    assert metrics["top"]["cost_usd"] == pytest.approx(metrics["single:t5"]["cost_usd"])
    assert metrics["rung_0"]["cost_vs_largest"] < 0.01 and metrics["rung_0"]["accuracy"] < 1.0
    comparison = out["method_comparisons"]
    assert list(comparison[["method", "baseline"]].itertuples(index=False, name=None)) == [("rung_0", "single:t5")]
    lines = nodes.plot_accuracy_cost(out["metrics"], evaluation, pool).axes[0].lines
    assert [line.get_label() for line in lines] == ["rungs"]  # one family: the two rungs joined
    logged = {}

    def log_method_runs(metrics, experiment, figure, tags, method_tags):
        logged.update({m: method_tags(m) for m in metrics["micro"]})

    monkeypatch.setattr(nodes, "log_method_runs", log_method_runs)
    nodes.log_runs(out["metrics"], evaluation, pool)
    assert logged == {"single:t5": {}, "rung_0": {"rung": "0"}, "top": {"rung": "4"}}  # the runs' MLflow tags
