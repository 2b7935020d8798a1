"""Allocation labels by the paper's grouped search, recording every (subtask, model) attempt.

A baseline member answers each subtask; the alpha-quantile of its answer-token probabilities puts
the subtask in a difficulty bucket whose starting tier begins the search. From there the search goes
down (cheaper) while the answer stays verified, up (dearer) while it is not; the label is the cheapest
verified member. All subtasks at one search position go out as one batch per member. An answer is
verified against the subtask's exact value (micro), or by `verify` (a reviewer, paper profile).

The paper asks each member once. With `tries` > 1 a member on a rung answers `tries` times, try j
drawn with the search's seed + j (a sampling member answers differently each time), and it is
accepted when at least `accept_share` of its answers are verified: the label is then the cheapest
member that usually answers the subtask, not the cheapest that answered it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..pool.base import SamplingParams
from ..pool.pool import ModelPool
from ..reasoning.execute import answer_confidence

# the seed of a sampled member's try per rung (data_generation.allocation.seed; try j of several:
# + j), apart from evaluation's seeds
SEARCH_SEED = 2000


@dataclass
class SearchItem:
    """One subtask under search: its member prompt, its exact value (None when a reviewer judges:
    then `question` and `subtask` are what the reviewer reads), and the search's state."""

    key: str
    prompt: str
    gold: object
    question: str = ""
    subtask: str = ""
    start: int = 0
    verified: dict[int, bool] = field(default_factory=dict)
    label: int | None = None
    unsolved: bool = False


def start_tier(confidence: float, thresholds: Sequence[float], starts: Sequence[int]) -> int:
    """thresholds descending (easy, medium); starts: tier index for easy, medium, hard."""
    for bound, tier in zip(thresholds, starts):
        if confidence >= bound:
            return tier
    return starts[-1]


def grouped_search(
    pool: ModelPool,
    ladder: Sequence[str],
    items: list[SearchItem],
    parse: Callable[[str, str], object],
    sampling: SamplingParams,
    baseline: str,
    alpha: float,
    thresholds: Sequence[float],
    starts: Sequence[int],
    verify: Callable[[list[SearchItem], list[object]], list[tuple[bool, str | None]]] | None = None,
    tries: int = 1,
    accept_share: float = 0.5,
) -> list[dict]:
    """Label every item in place; returns the attempt table: one row per subtask, member asked and
    try, every paid call once.

    The baseline's answer (asked with log-probabilities for the bucket) is its attempt when the search
    reaches the baseline's tier, not asked again. Where the search never reaches it, its row says
    `searched: False`, and `correct` is whether it equals `gold` (None when a reviewer judges: it was
    not reviewed). `verify(items, answers)` judges one batch of parsed answers, returning (verified,
    review text) pairs such as `teacher.Verdict`; by default an answer is verified when it equals the
    item's `gold`, with no review text. `tries` and `accept_share`: see the module; every try is a
    row of its own (`try_index`), and the baseline's probe is its try 0."""
    if baseline not in ladder:
        raise ValueError(f"the baseline member {baseline!r} is not on the ladder {list(ladder)}")
    if tries < 1 or not 0 < accept_share <= 1:
        raise ValueError(f"tries must be >= 1 and accept_share within (0, 1]: got tries={tries}, "
                         f"accept_share={accept_share}")
    attempts: list[dict] = []
    probe_of = _bucket_probe(pool, items, baseline, sampling, alpha, thresholds, starts)
    base_tier = list(ladder).index(baseline)
    pending = {id(i): i.start for i in items}
    while pending:
        by_tier: dict[int, list[SearchItem]] = {}
        for item in items:
            if id(item) in pending:
                by_tier.setdefault(pending[id(item)], []).append(item)
        pending = {}
        for tier, group in by_tier.items():
            probe = [probe_of[id(i)] for i in group] if tier == base_tier else None
            answered = _ask_rung(pool, ladder[tier], group, probe, parse, sampling, verify, tries)
            for n, item in enumerate(group):
                right = 0
                for j, (outs, values, judged) in enumerate(answered):
                    ok, review = judged[n]
                    right += bool(ok)
                    attempts.append(_attempt(item, ladder[tier], outs[n], values[n], ok, review, pool, try_index=j))
                accepted = right / tries >= accept_share
                item.verified[tier] = accepted
                nxt = _next_tier(item, tier, accepted, len(ladder))
                if nxt is not None:
                    pending[id(item)] = nxt
    for item in items:
        if base_tier not in item.verified:  # paid for the bucket, outside the search
            out = probe_of[id(item)]
            value = parse(item.prompt, out.text)
            ok = None if verify else (value is not None and value == item.gold)
            attempts.append(_attempt(item, baseline, out, value, ok, None, pool, searched=False))
    return attempts


def _ask_rung(pool: ModelPool, member: str, group: list[SearchItem], probe: list | None, parse: Callable,
              sampling: SamplingParams, verify: Callable | None, tries: int) -> list[tuple[list, list, list]]:
    """`member` answers every item of `group` `tries` times (try 0 is `probe`, the baseline's answers,
    where given); per try: (answers, parsed values, (verified, review) pairs), in `group` order."""
    answered = []
    for j in range(tries):
        outs = probe if j == 0 and probe is not None else pool.generate(member, [i.prompt for i in group],
                                                                        try_sampling(sampling, j))
        values = [parse(item.prompt, out.text) for item, out in zip(group, outs)]
        judged = verify(group, values) if verify else [(v is not None and v == i.gold, None)
                                                       for i, v in zip(group, values)]
        answered.append((outs, values, judged))
    return answered


def try_sampling(sampling: SamplingParams, j: int) -> SamplingParams:
    """How a member is asked for try j of a rung: the search's sampling, seed + j."""
    return replace(sampling, seed=sampling.seed + j) if j else sampling


def _bucket_probe(pool: ModelPool, items: list[SearchItem], baseline: str, sampling: SamplingParams, alpha: float,
                  thresholds: Sequence[float], starts: Sequence[int]) -> dict[int, object]:
    """The baseline answers every item with log-probabilities; the alpha-quantile sets `item.start`.
    Returns each item's answer, by `id(item)`."""
    probe_sampling = SamplingParams(**{**sampling.__dict__, "logprobs": True})
    probe = pool.generate(baseline, [i.prompt for i in items], probe_sampling)
    blind = sum(out.lacks(probe_sampling) for out in probe)
    if blind:
        raise ValueError(
            f"the baseline member {baseline!r} sent no token log-probabilities for {blind} of {len(probe)} "
            f"answers; the difficulty bucket reads them, and without them every subtask would start at the "
            f"hard tier. Serve it with log-probabilities (vLLM and OpenAI-compatible servers send them when "
            f"asked), or choose another data_generation.allocation.baseline")
    for item, out in zip(items, probe):
        item.start = start_tier(answer_confidence(out.token_logprobs, alpha), thresholds, starts)
    return {id(i): out for i, out in zip(items, probe)}


def _next_tier(item: SearchItem, tier: int, ok: bool, n: int) -> int | None:
    if ok:
        item.label = tier if item.label is None or tier < item.label else item.label
        going_down = tier <= item.start
        return tier - 1 if going_down and tier > 0 and (tier - 1) not in item.verified else None
    if item.label is not None:  # a cheaper member failed below a verified one: the search ends
        return None
    if tier + 1 < n:
        return tier + 1
    item.label, item.unsolved = n - 1, True
    return None


def _attempt(item: SearchItem, member: str, out, value, ok: bool | None, review: str | None, pool: ModelPool,
             searched: bool = True, try_index: int = 0) -> dict:
    return {
        "subtask_key": item.key,
        "prompt": item.prompt,
        "member": member,
        "text": out.text,
        "answer": None if value is None else str(value),
        "gold": None if item.gold is None else str(item.gold),
        "correct": ok,
        "review": review,
        "prompt_tokens": out.prompt_tokens,
        "completion_tokens": out.completion_tokens,
        "cost_usd": pool.cost(member, out),
        "searched": searched,
        "try_index": try_index,
    }
