"""The installer's and the owner's commands, run beside the daemon rather than in it:
`calibrate` (the procedures, and the calibration file the daemon lays over the config)
and `doctor` (is everything wired and answering)."""
