"""The safety rules of spec section 7, each a small pure state machine.

A rule is fed one Sample at a time with the current session's start (or None) and
appends the Events it raises to a list. No rule reads a clock or does I/O: time is the
samples' own `t`, so the live daemon and `replay` get the same events from the same samples.
What every rule keeps to, so `replay` may skip samples, is declared in contract.py.
"""
