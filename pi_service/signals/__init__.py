"""Pure signal stages between the drivers and the Sample: each turns timestamped raw
readings into a quantity the rules use. No I/O, no clock: fed (t, reading), tested alone.
The incline is here (incline.py); the footstrike detector belongs beside it."""
