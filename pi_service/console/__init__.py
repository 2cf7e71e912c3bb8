"""The console link (pyserial, its own thread), its faults, the incline check against the
deck's position, and the tick's console job (watch.py) that carries out the ramp-down."""
