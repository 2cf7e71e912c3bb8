"""Storage: the session history database, and the one way a state file is written (atomic.py)."""
