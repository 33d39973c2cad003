"""Pure rebalancing logic: exact `Decimal` values, no I/O, no asyncio, no ccxt, no logging."""
