"""python -m tests.bench [--quick] [--only NAME[,NAME]] [--results PATH] [--doc PATH | --no-doc]

Runs the benchmarks (batch, cold_start, invoke, aws_call_cost, end_to_end, replay, durability,
backends), prints each figure as it comes, and writes bench/results.json and BENCHMARKS.md (a full run) or
bench/results-quick.json (--quick; BENCHMARKS.md is left alone unless --doc names it). With
--only, the other benchmarks' figures already in the results file are kept. Exit status 0 whatever
the figures say: a missed target is reported, not raised; 1 only when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from tests.bench import (
    aws_call_cost,
    backends,
    batch,
    cold_start,
    durability,
    end_to_end,
    invoke,
    replay,
    report,
)
from tests.bench.harness import FULL, QUICK, Figure, Sizes, measure_yardstick

BENCHMARKS: dict[str, ModuleType] = {
    m.NAME: m for m in (batch, cold_start, invoke, aws_call_cost, end_to_end, replay, durability, backends)
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[2])
    parser.add_argument(
        "--quick", action="store_true", help="the full run's figures, fewer repetitions (about six minutes)"
    )
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--results", type=Path, help="results JSON (default: bench/results.json, or -quick)")
    parser.add_argument(
        "--doc", type=Path, help="the markdown to generate (default: BENCHMARKS.md on a full run)"
    )
    parser.add_argument("--no-doc", action="store_true", help="write no markdown")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: refresh the bounds text and the markdown from the results",
    )
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return names


def _say(figure: Figure) -> None:
    if figure.status != "measured":
        print(f"  {figure.name}: {figure.status}: {figure.reason}", file=sys.stderr)
        return
    ratio = f", {figure.ratio:.2f}x {figure.baseline['name']}" if figure.ratio is not None else ""
    verdict = "" if figure.met is None else (" (met)" if figure.met else " (MISSED)")
    print(f"  {figure.name}: {figure.value:,.3f} {figure.unit}{ratio}{verdict}", file=sys.stderr)


def bound_for(figure: dict) -> str | None:
    """What bounds a missed figure, as its benchmark module says it now (BOUNDS, keyed by the figure's
    name, else by the last part of it, else by the benchmark's name)."""
    if figure["status"] != "measured" or figure["met"] is not False:
        return None
    bounds = getattr(BENCHMARKS.get(figure["benchmark"]), "BOUNDS", {})
    name = figure["name"]
    return bounds.get(name) or bounds.get(name.rsplit(".", 1)[-1]) or bounds.get(figure["benchmark"])


def run(
    names: list[str],
    sizes: Sizes,
    workdir: Path,
    say: Callable[[Figure], None] = _say,
    done: Callable[[str, list[Figure]], None] | None = None,
) -> list[Figure]:
    """Run the benchmarks in order; `done(name, figures)` after each, so a long run keeps what it has."""
    figures = []
    for name in names:
        started = time.monotonic()
        print(f"{name} ...", file=sys.stderr)
        these = BENCHMARKS[name].run(sizes, workdir)
        for figure in these:
            say(figure)
        figures += these
        if done is not None:
            done(name, these)
        print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return figures


def main(argv: list[str] | None = None, *, sizes: Sizes | None = None) -> int:
    args = parse_args(argv)
    names = selected(args.only)
    mode = "quick" if args.quick else "full"
    sizes = sizes or (QUICK if args.quick else FULL)
    results = args.results or (report.QUICK_RESULTS if args.quick else report.RESULTS)
    doc = None if args.no_doc else (args.doc or (None if args.quick else report.DOC))
    if args.render_only:
        document = report.refresh_bounds(results, bound_for)
        figures: list[Figure] = []
    else:
        document = {}
        # Budgets are set in the BENCHMARKS.md machine's seconds; this machine's speed scales them.
        sizes = dataclasses.replace(sizes, yardstick_ms=sizes.yardstick_ms or measure_yardstick())
        print(f"yardstick: {sizes.budget_note()}", file=sys.stderr)

        def save(name: str, these: list[Figure]) -> None:
            nonlocal document
            measured = [{**f.as_json(), "bound": bound_for(f.as_json())} for f in these]
            document = report.write_results(
                results, measured, mode=mode, ran=[name], yardstick_ms=sizes.yardstick_ms
            )

        with tempfile.TemporaryDirectory(prefix="storefront-bench-") as workdir:
            figures = run(names, sizes, Path(workdir), done=save)
    print(f"results: {results}", file=sys.stderr)
    if doc is not None:
        report.write_doc(doc, document)
        print(f"report: {doc}", file=sys.stderr)
    return 1 if any(f.status == "error" for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
