"""The policy lab: rebalancing policies backtested on history, with costs, side by side.

`policies` (the set compared), `costs` (the cost model), `bars` (aligned price history, cached or
generated), `backtest` (the engine: the bot's own band, schedule and planner code at each
decision, numpy between them), `metrics` (per-policy figures, frontier, recommendation),
`report` and `chart` (what a person sees). `bot/lab/ohlcv_cache.py` is the data download's cache.
"""
