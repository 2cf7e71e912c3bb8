"""The web layer: a thin reader of the snapshots the sampling loop publishes. It never touches hardware."""
