"""Storage: the session history database."""
