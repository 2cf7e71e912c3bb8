"""The sampling process: reads every sensor at a fixed rate and publishes snapshots.

run.py sets it up (real-time, hardware.py, everything a tick touches) and tears it down;
sampler.py is one tick, whose steps live in commands.py, sensors.py, session_log.py,
alerts.py and snapshot.py; loop.py paces it, stats.py measures it, board.py carries its
snapshots to the readers, process.py keeps it in a process of its own and restarts it."""
