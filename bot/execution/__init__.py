"""Working a plan on the exchange: legs, child orders, fills."""
