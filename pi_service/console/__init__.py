"""The console link (pyserial, its own thread) and the incline ramp-down it carries out."""
