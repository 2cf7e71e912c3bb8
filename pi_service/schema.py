"""Request and response models shared by the web API and the CLI (importable without building the app)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SessionStatus(BaseModel):
    elapsed_s: float = Field(description="seconds since the session began")
    distance_m: float = Field(description="belt distance covered in the session")
    cadence_spm: float | None = Field(None, description="the session's average cadence so far, footstrikes per "
                                                        "minute while the belt moved and someone stepped on it "
                                                        "(time-weighted); null while none has been felt")
    elevation_gain_m: float = Field(0.0, description="metres climbed this session: belt distance times the grade, "
                                                     "uphill grades only")
    energy_kcal: float = Field(0.0, description="calories so far, while the belt moved: ACSM's walking (below "
                                                "2 m/s) and running equations with the rider's mass (70 kg when "
                                                "[rider] body_mass_kg is unset), the part above rest lowered by the "
                                                "share of body weight on the rails")


class Alert(BaseModel):
    kind: str = Field(description="rule name, e.g. rail_lean")
    since_t: float = Field(description="when the interval started, sample time")
    message: str = Field("", description="the reason and the advice, in one sentence")
    level: str = Field("warning", description="warning, or alarm (unattended_belt: stop the belt)")
    detail: dict = Field(default_factory=dict, description="e.g. the channel of a sensor_fault")


class EventOut(BaseModel):
    t: float
    kind: str
    phase: str = Field(description="start, end or instant")
    message: str = ""
    level: str = "warning"
    detail: dict = Field(default_factory=dict)


class FaultStatus(BaseModel):
    channel: str = Field(description="speed, incline, rail_left, rail_right, console, recording, history or mqtt")
    device: str
    reason: str
    for_s: float = Field(description="seconds the fault has lasted")


class FootstrikeFigures(BaseModel):
    fifo_rate_hz: float = Field(description="the rate the deck accelerometer's FIFO is set to sample at")
    measured_rate_hz: float | None = Field(description="accelerometer samples per second read from the FIFO")
    samples: int = Field(description="accelerometer samples read from the FIFO")
    overruns: int = Field(description="times the FIFO filled before it was read: samples lost (also logged)")
    past_watermark: int = Field(description="reads that found the FIFO past its watermark (close to an overrun)")
    footstrikes: int = Field(description="footstrikes the detector has felt")
    off: str | None = Field(None, description="why the FIFO does not stream although footstrikes are enabled "
                                              "(e.g. a loop rate too low for the chip's FIFO); null while it does")


class LoopStatus(BaseModel):
    target_hz: float
    rate_hz: float = Field(description="ticks per second over the last minute's whole seconds")
    late_p50_ms: float = Field(description="wake-up lateness, median over the last minute")
    late_p99_ms: float
    late_max_ms: float
    overruns: int = Field(description="ticks that ended past the next deadline")
    missed_periods: int = Field(description="deadlines skipped because of overruns")
    ticks: int
    work_max_ms: float
    realtime: str = Field(description="what scheduling the loop got from the OS")
    device_errors: dict[str, int] = Field(description="failed transfers per device, after retry")
    belt_pulses: int
    belt_glitches: int
    recording_dropped: int
    age_ms: float = Field(description="age of this snapshot")
    restarts: int = Field(description="times the supervisor restarted the sampling process")
    footstrikes: FootstrikeFigures | None = Field(None, description="the accelerometer's FIFO stream and the "
                                                                    "footstrike detector; null when footstrikes "
                                                                    "are off ([footstrikes] enabled = false)")


class SimHeld(BaseModel):
    speed_kmh: float | None = Field(None, description="the belt speed the sim controls hold; null: the scenario's")
    incline_pct: float | None = Field(None, description="the incline the sim controls hold (as the console took "
                                                        "it); null: the scenario's")
    lean: bool = Field(False, description="the sim controls hold the walker's hands on the rails")


class SimStatus(BaseModel):
    scenario: str
    step: str
    scenario_t: float
    speedup: float
    controlled: bool = Field(False, description="the page's sim controls hold the speed, the incline or the rails "
                                                "(hands held off the rails too) until `resume`")
    held: SimHeld = Field(default_factory=SimHeld, description="what the sim controls hold, each until `resume`")
    walker_cadence_spm: float | None = Field(None, description="the simulated walker's true cadence (0 standing "
                                             "or off the belt), to check the measured cadence_spm against")
    off_belt: bool = Field(False, description="the simulated walker stands on the side rails")
    buzzer_on: bool = Field(False, description="the virtual buzzer pin is driven now")


class RampStatus(BaseModel):
    state: str = Field(description="idle, waiting, deferred, blocked, ramping, done, cancelled, stopped, "
                                   "unconfirmed or failed")
    reason: str = Field(description="why, in a sentence")
    since_t: float
    target_pct: float
    rate_pct_s: float
    due_t: float | None = Field(description="when the ramp is due for the steep climb under way")


class ConsoleResult(BaseModel):
    command: str
    result: str
    t: float


class ConsoleStatus(BaseModel):
    port: str
    connected: bool = Field(description="the serial port is open")
    alive: bool = Field(description="a valid frame from the console within the last 0.5 s")
    firmware: str | None
    position_pct: float | None = Field(description="the console's own reading of its incline")
    motion: int = Field(description="-1 down, 0 stopped, 1 up")
    ramp: str = Field(description="the console's automatic ramp: none, running, done, cancelled by the console, ...")
    presses: int = Field(description="console key presses seen (wraps at 65536)")
    error: str | None
    reconnects: int
    last_result: ConsoleResult | None


class NudgeState(BaseModel):
    snoozed_s: float = Field(description="seconds of snooze left")
    acknowledged: bool
    repeats: int = Field(description="nudges played for the interval under way")


class MqttStatus(BaseModel):
    broker: str = Field(description="host:port of the MQTT broker")
    connected: bool
    error: str | None = Field(description="why it is not connected (it keeps trying), null while connected")
    waiting: int = Field(description="events and sessions on disk, not yet acknowledged by the broker")
    dropped: int = Field(description="events and sessions lost unsent because the outbox was full")
    sent: dict[str, int] = Field(description="messages acknowledged or sent since the daemon started, by topic")
    base_topic: str


class UsageStatus(BaseModel):
    belt_hours: float = Field(description="the belt's running time since installation (the sessions')")
    distance_km: float
    sessions: int
    since: str | None = Field(description="the first session's start, ISO 8601 UTC")
    lubricated_at: str | None = Field(description="the last lubrication recorded (`usage --lubricated`)")
    hours_since_lubrication: float
    km_since_lubrication: float
    lubrication_due: bool
    lubricate_every_h: float
    lubricate_every_km: float
    hint: str | None = Field(description="what to do, when the belt is due")


class Status(BaseModel):
    t: float = Field(description="sample time, seconds on the monotonic clock")
    units: str = Field(description="km/h or mph: the unit of `speed`")
    speed: float | None = Field(description="belt speed in `units`")
    speed_kmh: float | None
    incline_pct: float | None
    rail_left_n: float | None
    rail_right_n: float | None
    cadence_spm: float | None = Field(None, description="footstrikes per minute over the last steps, 0 once none "
                                                        "has been felt for 3 s; null when unknown (footstrikes "
                                                        "off, the accelerometer failing)")
    footstrike_g: float | None = Field(None, description="peak vertical deck acceleration of the last footstrike, "
                                                         "in g above gravity (0 while the cadence is 0); null when "
                                                         "unknown")
    session: SessionStatus | None
    alerts: list[Alert] = Field(description="the rule intervals raised now")
    events: list[EventOut] = Field(description="the most recent events, oldest first")
    nudges: dict[str, NudgeState] = Field({}, description="per kind raised or snoozed now: the person's answers")
    faults: list[FaultStatus]
    loop: LoopStatus
    demo: bool = Field(description="true when the rule timings are the demo's shortened ones")
    console: ConsoleStatus | None = Field(None, description="the console link, if a console is wired")
    ramp: RampStatus | None = Field(None, description="the automatic incline ramp-down, if a console is wired")
    sim: SimStatus | None = Field(description="the virtual treadmill's scenario, in sim mode")
    pace_s: float | None = Field(None, description="seconds per km (units km/h) or per mile (mph); null when the "
                                                   "speed is unknown or below 1 km/h")
    body_mass_kg: float = Field(description="the rider's mass the calories use: [rider] body_mass_kg, or the default")
    body_mass_assumed: bool = Field(description="true when [rider] body_mass_kg is unset and the default is used")
    rail_lean_n: float = Field(description="the total force on both rails at which leaning starts (the rail_lean "
                                           "rule's threshold: force_n, or body_fraction x body_mass_kg x g)")
    mqtt: MqttStatus | None = Field(None, description="the MQTT publisher, when [mqtt] enabled")
    usage: UsageStatus | None = Field(None, description="usage since installation and the belt-lubrication hint")


class Health(BaseModel):
    healthy: bool
    reason: str
