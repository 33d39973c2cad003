"""The glide path as a table: per asset its weight now, its final target, its cap per day and
when it is done at that cap (`status`, and `plan` when caps are set)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table


def render_glide(data: dict[str, Any] | None, console: Console, *, reason: bool = True) -> None:
    """Nothing when no cap holds an asset back. `reason`: the path's one line above the table
    (`plan` has it among the plan's notes already)."""
    if not data or not data.get("gliding"):
        return
    if reason:
        console.print(f"[yellow]{data['reason']}[/]")
    table = Table(title=f"Glide path (as of {data['at']})", box=box.SIMPLE)
    for name in ("asset", "now", "final", "cap/day", "done by"):
        table.add_column(name, justify="left" if name == "asset" else "right")
    for s in data["steps"]:
        share = s.get("cap_share")
        cap = "none" if share is None else f"{Decimal(share) * 100:.1f}%"
        done = "never" if s["done_by"] is None else s["done_by"][:10]
        table.add_row(
            s["asset"], f"{Decimal(s['now']):.2%}", f"{Decimal(s['final']):.2%}", cap, done
        )
    console.print(table)
    for note in data.get("notes", []):
        console.print(f"note: {note}")
