"""The ccxt boundary: the gateway, and the factory that builds each backend."""
