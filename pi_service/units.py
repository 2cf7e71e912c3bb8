"""Units and physical constants, in one place: SI (m/s, N, s) inside, km/h and mph only at
the edges where a person reads or types them, each conversion through a function here."""

STANDARD_GRAVITY = 9.80665  # m/s^2, the conventional value (weights in N from kg, accelerations in g)
KMH_PER_MPS = 3.6
MPH_PER_MPS = 3600 / 1609.344


def mps_to_kmh(speed_mps: float) -> float:
    return speed_mps * KMH_PER_MPS


def kmh_to_mps(speed_kmh: float) -> float:
    return speed_kmh / KMH_PER_MPS


def mps_to_mph(speed_mps: float) -> float:
    return speed_mps * MPH_PER_MPS


def mps_to_display(speed_mps: float, units: str) -> float:
    """Speed in the unit the config's `units` names ("km/h" or "mph")."""
    return mps_to_mph(speed_mps) if units == "mph" else mps_to_kmh(speed_mps)
