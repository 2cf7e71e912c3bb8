"""The pure core: samples, sessions and (later) the safety rules. No I/O, no clock reads."""
