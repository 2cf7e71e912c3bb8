"""The sampling loop: reads every sensor at a fixed rate in its own process and publishes snapshots."""
