"""`make bench`: run every benchmark and print its figures as tables.

    python -m bench                  # everything (about a minute on two cores)
    python -m bench --seeds 2        # a quicker, noisier execution benchmark
    python -m bench --only overhead  # plan time, daemon poll CPU, peak RSS, RSS over 60 rebalances

Results are also written to bench/results/ (execution.md, overhead.md, shortfall_vs_size.png).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from bench import execution, overhead, plan_speed, soak


def figures_table(rows: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'figure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {key:<{width}} | {value} |" for key, value in rows]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("overhead", "execution"), help="one benchmark only")
    parser.add_argument("--seeds", type=int, default=execution.SEEDS, help="runs per cell")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    execution.RESULTS.mkdir(parents=True, exist_ok=True)

    if args.only != "execution":
        rows = [*plan_speed.run(), *overhead.run(), *soak.run()]
        lines = ["## Overhead", "", *figures_table(rows)]
        (execution.RESULTS / "overhead.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print()

    if args.only != "overhead":
        t0 = time.perf_counter()
        results = execution.run_all(args.seeds, args.workers)
        figures = execution.aggregate(results)
        elapsed = time.perf_counter() - t0
        header = execution.header(args.seeds, len(results), elapsed)
        text = execution.report(figures, header)
        (execution.RESULTS / "execution.md").write_text(text + "\n")
        print(text)
        print()
        print(execution.chart(figures, execution.RESULTS / "shortfall_vs_size.png", args.seeds))
        print(f"execution results written to {execution.RESULTS.relative_to(execution.ROOT)}/")

    print(f"bench finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
