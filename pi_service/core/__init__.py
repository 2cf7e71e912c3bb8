"""The pure core: samples, sessions, the safety rules and their contract, events, session
summaries, and replay's fast path. No I/O, no clock reads."""
