"""What the companion does about events: buzzer nudges (nudges.py), the incline ramp-down
(ramp.py), and the two put together for the sampler (responses.py)."""
