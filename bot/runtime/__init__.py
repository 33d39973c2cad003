"""Putting the pieces together: settings + snapshot -> plan; later the daemon loop."""
