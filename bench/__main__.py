"""`make bench`: run every benchmark and print its figures as a table."""

from __future__ import annotations

from bench import plan_speed


def main() -> None:
    rows = plan_speed.run()
    width = max(len(k) for k, _ in rows)
    print(f"| {'figure':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")


if __name__ == "__main__":
    main()
