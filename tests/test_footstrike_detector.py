"""The footstrike detector alone (signals/footstrikes.py), on deck signals built here: impacts at
a known cadence with belt and motor vibration and noise, an empty running belt, a person
standing still. The sim's walker and the chip models are tested end to end elsewhere."""

import math
import random

import pytest

from pi_service.signals.footstrikes import STILL_S, FootstrikeDetector
from pi_service.units import STANDARD_GRAVITY as G

RATE_HZ = 400.0
ROLLER_M = 0.05


def impact(dt: float, tau: float = 0.010) -> float:
    """A footstrike's jolt, normalised to a peak of 1: the second derivative of a deck
    deflection (t/tau)^3 e^(-t/tau), so it integrates to zero like a real deck's motion."""
    if dt < 0:
        return 0.0
    u = dt / tau
    return math.exp(-u) * (6 * u - 6 * u * u + u ** 3) / 1.0104


def deck(seconds: float, cadence_spm: float | None, peak_g: float, speed_kmh: float, noise_g: float = 0.01,
         seed: int = 0, step_jitter: float = 0.02, start_t: float = 0.0):
    """(t, vertical m/s^2) at 400 Hz, and the footstrike times. Vibration at the roller's
    rotation (and the motor at 3x), growing with speed; impacts +-10 % in size."""
    rng = random.Random(seed)
    speed = speed_kmh / 3.6
    roller_hz = speed / (math.pi * ROLLER_M)
    vibration_g = 0.02 + 0.01 * speed if speed > 0 else 0.0
    strikes: list[tuple[float, float]] = []
    next_t = start_t + 0.37
    samples = []
    for k in range(int(seconds * RATE_HZ)):
        t = start_t + k / RATE_HZ
        while cadence_spm and next_t <= t:
            strikes.append((next_t, peak_g * rng.uniform(0.9, 1.1)))
            next_t += 60.0 / cadence_spm * rng.uniform(1 - step_jitter, 1 + step_jitter)
        g = sum(size * impact(t - when) for when, size in strikes[-2:])
        g += vibration_g * (math.sin(2 * math.pi * roller_hz * t) + 0.5 * math.sin(2 * math.pi * 3 * roller_hz * t + 1))
        g += rng.gauss(0, noise_g)
        samples.append((t, G * (1 + g)))
    return samples, [when for when, _ in strikes]


def detect(samples, detector=None) -> FootstrikeDetector:
    detector = detector or FootstrikeDetector()
    for t, a in samples:
        detector.feed(t, a)
    return detector


@pytest.mark.parametrize("cadence_spm", [90, 110, 130, 150, 170, 190])
@pytest.mark.parametrize("gait, peak_g, speed_kmh", [("walking", 0.35, 4.0), ("running", 1.2, 11.0)])
def test_cadence_is_the_walkers_within_2_percent_through_vibration_and_noise(cadence_spm, gait, peak_g, speed_kmh):
    samples, strikes = deck(40, cadence_spm, peak_g, speed_kmh, seed=cadence_spm)
    detector = detect(samples)
    cadence, footstrike_g = detector.reading(samples[-1][0])
    assert cadence == pytest.approx(cadence_spm, rel=0.02)
    assert footstrike_g == pytest.approx(peak_g, rel=0.2)
    # Every footstrike after the first second's settling, and none extra (no double counts).
    assert len(strikes) - 3 <= detector.footstrikes <= len(strikes)


@pytest.mark.parametrize("speed_kmh", [1.0, 5.0, 10.0, 16.0])
def test_a_running_empty_belt_gives_no_footstrike(speed_kmh):
    samples, _ = deck(60, None, 0.0, speed_kmh, noise_g=0.02, seed=int(speed_kmh))
    detector = detect(samples)
    assert detector.footstrikes == 0
    assert detector.reading(samples[-1][0]) == (0.0, 0.0)


def test_a_strongly_vibrating_deck_is_still_not_walking():
    # A loose motor mount: vibration at three times the usual level, well over min_peak_g.
    rng = random.Random(5)
    samples = [(k / RATE_HZ, G * (1 + 0.3 * math.sin(2 * math.pi * 21.0 * k / RATE_HZ) + rng.gauss(0, 0.02)))
               for k in range(int(60 * RATE_HZ))]
    assert detect(samples).footstrikes == 0


def test_a_person_standing_still_on_the_deck_gives_no_footstrike():
    # The belt stopped; weight shifting slowly from foot to foot, and the chip's noise.
    rng = random.Random(2)
    samples = [(k / RATE_HZ, G * (1 + 0.03 * math.sin(2 * math.pi * 0.4 * k / RATE_HZ) + rng.gauss(0, 0.01)))
               for k in range(int(60 * RATE_HZ))]
    assert detect(samples).footstrikes == 0


def test_cadence_reads_0_three_seconds_after_the_last_footstrike():
    samples, strikes = deck(10, 120, 0.4, 4.0, seed=1)
    detector = detect(samples)
    last = strikes[-1]
    assert detector.reading(last + STILL_S - 0.05)[0] == pytest.approx(120, rel=0.02)
    assert detector.reading(last + STILL_S + 0.05) == (0.0, 0.0)


def test_one_missed_footstrike_does_not_move_the_median_cadence():
    samples, strikes = deck(20, 150, 0.8, 9.0, seed=4, step_jitter=0.0)
    missing = strikes[30]
    # That footstrike's jolt taken out of the signal, as a soft landing the deck barely felt.
    quiet = [(t, a - (G * 0.8 * 1.1 * impact(t - missing) if 0 <= t - missing < 0.2 else 0.0)) for t, a in samples]
    detector = detect(quiet)
    assert detector.reading(samples[-1][0])[0] == pytest.approx(150, rel=0.02)


def test_three_footstrikes_are_needed_before_there_is_a_cadence():
    detector = FootstrikeDetector()
    samples, strikes = deck(3.0, 100, 0.5, 4.0, seed=9, step_jitter=0.0)
    counted = []
    for t, a in samples:
        detector.feed(t, a)
        counted.append((t, detector.footstrikes, detector.reading(t)[0]))
    assert all(cadence == 0.0 for _, strikes_so_far, cadence in counted if strikes_so_far < 3)
    assert counted[-1][2] == pytest.approx(100, rel=0.02)


def test_after_lost_samples_no_interval_is_measured_across_the_gap():
    before, _ = deck(10, 120, 0.5, 4.0, seed=6)
    detector = detect(before)
    # 0.9 s lost (a FIFO overrun), then the walker goes on at another cadence.
    detector.gap(10.9)
    after, _ = deck(8, 150, 0.5, 4.0, seed=7, start_t=10.9)
    detect(after, detector)
    assert detector.reading(after[-1][0])[0] == pytest.approx(150, rel=0.02)
