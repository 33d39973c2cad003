"""rebalance-bot: keeps a crypto portfolio at its target allocation."""

__version__ = "0.1.0"
