"""Exact-command accuracy of a planner over an evaluation set."""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.agent.evalset import VALUE_TOLERANCE, Case, EvalSet
from edge_agent.agent.planner import IntentModel, Planner
from edge_agent.agent.policy import Policy, PolicyConfig
from edge_agent.agent.prompt import PromptStyle
from edge_agent.devices.registry import Registry
from edge_agent.messages import Context, Request, Response

# Confirmations are off: a case is judged on the commands the planner decided on.
EVAL_POLICY = PolicyConfig(confirm_actions=[], confirm_opening=[], rate_limit_count=1_000_000)


@dataclass
class Outcome:
    case: Case
    correct: bool
    got: list[tuple[str, str, Any]]
    response: Response
    seconds: float
    doubt: float | None = None
    """When the model named devices: the probability it gave to naming none."""


@dataclass
class Report:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)

    def accuracy(self, keep: Callable[[Outcome], bool] = lambda _: True) -> tuple[float, int]:
        chosen = [o for o in self.outcomes if keep(o)]
        return (sum(o.correct for o in chosen) / len(chosen) if chosen else 0.0), len(chosen)

    def summary(self) -> dict[str, Any]:
        by_kind = {k: self.accuracy(lambda o, k=k: o.case.kind == k)  # type: ignore[misc]
                   for k in ("command", "query", "none")}  # fmt: skip
        families: dict[str, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            families[o.case.family or "-"].append(o)
        total, count = self.accuracy()
        return {
            "set": self.name,
            "cases": count,
            "exact": total,
            "by_kind": {k: {"exact": a, "cases": n} for k, (a, n) in by_kind.items()},
            "by_family": {f: sum(o.correct for o in os) / len(os) for f, os in families.items()},
            "median_ms": statistics.median(o.seconds * 1000 for o in self.outcomes)
            if self.outcomes
            else 0.0,
        }


def _key(device: str, action: str, value: Any) -> tuple[str, str, Any]:
    if isinstance(value, (int, float)):
        value = round(float(value) / VALUE_TOLERANCE) * VALUE_TOLERANCE
    return (device.lower(), action, value.lower() if isinstance(value, str) else value)


def judge(case: Case, response: Response, registry: Registry) -> tuple[bool, list[Any]]:
    got = sorted({_key(a.device, a.action, a.value) for a in response.actions}, key=str)
    if case.kind == "none":
        return not response.actions and not response.about, got
    if case.kind == "query":
        names = sorted(e.name.lower() for i in response.about if (e := registry.get(i)))
        return not response.actions and names == sorted(n.lower() for n in case.expect_query), got
    expected = sorted({_key(c.device, c.action, c.value) for c in case.expect}, key=str)
    return got == expected, got


def evaluate(
    evalset: EvalSet,
    model: IntentModel,
    *,
    limit: int | None = None,
    progress: bool = True,
    prompt_style: PromptStyle = "few-shot",
    none_threshold: float | None = None,
) -> Report:
    registries: dict[str, Registry] = {}
    report = Report(evalset.name)
    cases = evalset.cases[:limit] if limit else evalset.cases
    for number, case in enumerate(cases, 1):
        registry = registries.get(case.home)
        if registry is None:
            registry = Registry([])
            registry.add(device.entity() for device in evalset.homes[case.home])
            registries[case.home] = registry
        planner = Planner(model, registry, Policy(EVAL_POLICY), prompt_style=prompt_style,
                          none_threshold=none_threshold)  # fmt: skip
        started = time.perf_counter()
        response = planner.handle(Request(text=case.text, context=Context(area=case.area)))
        seconds = time.perf_counter() - started
        correct, got = judge(case, response, registry)
        report.outcomes.append(Outcome(case, correct, got, response, seconds, planner.last_doubt))
        if progress:
            right = sum(o.correct for o in report.outcomes)
            print(f"\r{evalset.name}: {number}/{len(cases)}, {right} right", end="",
                  file=sys.stderr, flush=True)  # fmt: skip
    if progress:
        print(file=sys.stderr)
    return report


NONE_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def none_sweep(
    report: Report, thresholds: tuple[float, ...] = NONE_THRESHOLDS
) -> list[dict[str, Any]]:
    """What each ``none_threshold`` would have scored, from one run without it: a case
    whose doubt reaches the threshold would have been answered "none", which is right
    exactly when nothing was to be done."""
    kinds = ("command", "query", "none")
    counts = {k: sum(o.case.kind == k for o in report.outcomes) for k in kinds}
    total = len(report.outcomes) or 1
    rows = []
    for threshold in (None, *thresholds):
        right = dict.fromkeys(kinds, 0)
        for o in report.outcomes:
            abstains = threshold is not None and o.doubt is not None and o.doubt >= threshold
            right[o.case.kind] += (o.case.kind == "none") if abstains else o.correct
        rows.append({"none_threshold": threshold, "exact": sum(right.values()) / total,
                     **{k: right[k] / counts[k] if counts[k] else 0.0 for k in right}})  # fmt: skip
    return rows
