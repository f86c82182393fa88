"""Results: each scenario's numbers, its comparison with its reference, the markdown table
and the JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.scenarios import SCENARIOS, Scenario


@dataclass
class Result:
    """One scenario's row. Rates and percentiles are those of its primary group; errors are
    every group's (measured window; warm-up errors apart)."""

    scenario: str
    server: str
    description: str
    connections: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    req_s: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    errors: int = 0
    warmup_errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    reference: str | None = None
    reference_req_s: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    client_cpu_percent: float | None = None  # the load generator's share of its core

    @classmethod
    def measured(
        cls,
        scenario: Scenario,
        connections: dict[str, int],
        groups: dict[str, dict[str, Any]],
        client_cpu_percent: float,
    ) -> Result:
        main = groups[scenario.main_group]
        return cls(
            scenario=scenario.name,
            server=scenario.server,
            description=scenario.description,
            connections=connections,
            groups=groups,
            requests=main["requests"],
            req_s=main["req_s"],
            p50_ms=main["p50_ms"],
            p90_ms=main["p90_ms"],
            p99_ms=main["p99_ms"],
            max_ms=main["max_ms"],
            errors=sum(g["errors"] for g in groups.values()),
            warmup_errors=sum(g["warmup_errors"] for g in groups.values()),
            error_samples=[s for g in groups.values() for s in g["error_samples"]],
            target=scenario.target.label if scenario.target else None,
            client_cpu_percent=client_cpu_percent,
        )

    @classmethod
    def skip(cls, scenario: Scenario, reason: str) -> Result:
        return cls(scenario.name, scenario.server, scenario.description, skipped=reason)


def compare(scenario: Scenario, result: Result, results: dict[str, Result]) -> None:
    """Fill in the ratio to the reference, whether the target is met, and the notes."""
    ref = results.get(scenario.reference) if scenario.reference else None
    if ref is not None and ref.skipped is None and ref.req_s:
        result.reference = ref.scenario
        target = scenario.target
        if target is not None and target.kind == "growth":
            if ref.p50_ms and result.p50_ms:
                result.ratio = ref.p50_ms / result.p50_ms
                result.notes.append(
                    f"p50 {ref.p50_ms:.2f} ms with every restaurant, {result.p50_ms:.2f} ms alone"
                )
        else:
            result.reference_req_s = ref.req_s
            result.ratio = (result.req_s or 0.0) / ref.req_s
    elif scenario.reference:
        why = f"skipped: {ref.skipped}" if ref is not None and ref.skipped else "not run"
        result.notes.append(f"no ratio: '{scenario.reference}' {why}")
    also = results.get(scenario.also) if scenario.also else None
    if also is not None and also.req_s and result.req_s:
        ratio = result.req_s / also.req_s
        result.notes.append(
            f"{also.scenario} (same bytes): {also.req_s:.0f} req/s, ratio {ratio:.3f}"
        )
    target = scenario.target
    if target is not None and target.kind == "spread" and result.p50_ms and result.p99_ms:
        result.ratio = result.p99_ms / result.p50_ms
    if target is not None:
        if target.kind in ("ratio", "growth", "speedup", "spread"):
            if result.ratio is not None:
                result.met = (
                    result.ratio >= target.value
                    if target.kind in ("ratio", "speedup")
                    else result.ratio <= target.value
                )
        elif target.kind == "max":
            result.met = result.max_ms is not None and result.max_ms <= target.value
        elif target.kind == "p99":
            result.met = result.p99_ms is not None and result.p99_ms <= target.value
        elif target.kind == "rate":
            result.met = result.req_s is not None and result.req_s >= target.value
    # Groups with a row of their own (another row of the same measurement) are not noted.
    family = {scenario.shares or scenario.name}
    shown = {s.main_group for s in SCENARIOS if s.groups and family & {s.name, s.shares}}
    for name, group in result.groups.items():
        if not scenario.sequence and name != scenario.main_group and name not in shown:
            result.notes.append(
                f"{name}: {group['req_s']:.1f} req/s on {result.connections[name]} connections"
                f" (p50 {_ms(group['p50_ms'])} ms, p99 {_ms(group['p99_ms'])} ms)"
            )
    if target is not None and result.errors:
        result.met = False  # every target is met without errors
    if result.client_cpu_percent is not None and result.client_cpu_percent > 80:
        result.notes.append(
            f"the load generator used {result.client_cpu_percent:.0f}% of its core: "
            "near its own limit"
        )
    if result.warmup_errors:
        result.notes.append(f"{result.warmup_errors} errors during the warm-up")
    if result.error_samples:
        result.notes.append("first errors: " + " | ".join(result.error_samples[:3]))


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def table(results: list[Result]) -> str:
    head = [
        "| scenario | req/s | p50 ms | p99 ms | errors | ceiling req/s | ratio | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    rows = []
    for r in results:
        if r.skipped:
            rows.append(f"| {r.scenario} | skipped: {r.skipped} | | | | | | {r.target or ''} | — |")
            continue
        met = "—" if r.met is None else ("yes" if r.met else "no")
        rows.append(
            f"| {r.scenario} | {_num(r.req_s, '.0f')} | {_ms(r.p50_ms)} | {_ms(r.p99_ms)}"
            f" | {r.errors} | {_num(r.reference_req_s, '.0f')} | {_num(r.ratio, '.3f')}"
            f" | {r.target or ''} | {met} |"
        )
    notes = [f"- {r.scenario}: {note}" for r in results for note in r.notes]
    return "\n".join([*head, *rows, *(["", *notes] if notes else [])])


def write_json(path: Path, metadata: dict[str, Any], results: list[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"run": metadata, "scenarios": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2) + "\n")
