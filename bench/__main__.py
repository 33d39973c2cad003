"""`make bench`: run every benchmark and print its figures as tables.

    python -m bench                  # everything (about 15 minutes on two cores)
    python -m bench --quick          # a quick, noisier execution benchmark (about a minute)
    python -m bench --only execution --max-seeds 64   # more seeds per cell (about twice as long)
    python -m bench --only overhead  # plan time, daemon poll CPU, peak RSS, RSS over 60 rebalances,
                                     # the policy lab (20 policies x 10 assets x 5 years hourly)

The execution benchmark's knobs are also environment variables (command-line flags win):
BENCH_DURATIONS="5 15 30" (minutes), BENCH_SIZES="5 20" (x top-of-book depth),
BENCH_SEED_BATCH=8, BENCH_MAX_SEEDS=32, BENCH_TARGET_BPS=0.5, BENCH_STOP_METRIC=is_all
(or dr_all: stop on the drift-removed interval; see `bench/execution.py`).

Results are also written to bench/results/ (execution.md, execution_pairs.csv,
paired_differences.png, overhead.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence

from bench import execution, overhead, plan_speed, soak


def figures_table(rows: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'figure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {key:<{width}} | {value} |" for key, value in rows]
    return lines


def _config(args: argparse.Namespace) -> execution.Config:
    config = execution.Config.from_env(quick=args.quick)
    changes: dict[str, object] = {}
    if args.max_seeds is not None:
        changes["max_seeds"] = args.max_seeds
    if args.batch is not None:
        changes["batch"] = args.batch
    if args.target_bps is not None:
        changes["target_half_width"] = args.target_bps
    if args.durations is not None:
        changes["durations"] = execution._floats(args.durations)
    if args.sizes is not None:
        changes["sizes"] = execution._ints(args.sizes)
    if args.stop_metric is not None:
        changes["stop_metric"] = args.stop_metric
    if args.scenarios is not None:
        changes["scenarios"] = tuple(args.scenarios.replace(",", " ").split())
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("overhead", "execution"), help="one benchmark only")
    parser.add_argument(
        "--quick", action="store_true", help="execution: 2 durations, one size, at most 8 seeds"
    )
    parser.add_argument("--max-seeds", "--seeds", type=int, help="execution: cap of seeds per cell")
    parser.add_argument("--batch", type=int, help="execution: seeds added per round")
    parser.add_argument("--target-bps", type=float, help="execution: CI half-width to stop at")
    parser.add_argument("--durations", help='execution: minutes, e.g. "5 15 30"')
    parser.add_argument("--sizes", help='execution: x top-of-book depth, e.g. "5 20"')
    parser.add_argument(
        "--stop-metric", choices=("is_all", "dr_all"), help="execution: the interval to narrow"
    )
    parser.add_argument("--scenarios", help="execution: a subset, e.g. deep-calm,price-jump")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: 2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    execution.RESULTS.mkdir(parents=True, exist_ok=True)

    if args.only != "execution":
        rows = [*plan_speed.run(), *overhead.run(), *soak.run()]
        from bench import backtest  # numpy after the RSS figures, not counted in them

        rows += backtest.run()
        lines = ["## Overhead", "", *figures_table(rows)]
        (execution.RESULTS / "overhead.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print()

    if args.only != "overhead":
        config = _config(args)
        workers = args.workers or min(2, execution.available_cpus())
        print(f"execution benchmark: {len(execution.cells(config))} cells, {config}", flush=True)
        states, elapsed = execution.run_all(config, workers)
        head = execution.header(config, states, elapsed, workers)
        text = execution.report(states, config, head)
        (execution.RESULTS / "execution.md").write_text(text + "\n")
        execution.write_pairs(states, config, execution.RESULTS / "execution_pairs.csv")
        print("\n".join([*head, *execution.summary(states, config)]))
        print()
        print(execution.chart(states, config, execution.RESULTS / "paired_differences.png"))
        print(f"execution results written to {execution.RESULTS.relative_to(execution.ROOT)}/")

    print(f"bench finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
