"""Each session's summary (time, distance, cadence, climb, calories, every rule's count and
seconds), built from the samples and the events, and kept in the history: every 2 s while it
runs, when it ends, and when the sampler stops cleanly; with its readings once a second."""

from __future__ import annotations

from pi_service.config import Config
from pi_service.core.effort import body_mass_kg
from pi_service.core.engine import RuleEngine
from pi_service.core.events import ACTION_KINDS, Event
from pi_service.core.sample import Sample
from pi_service.core.summary import SummaryBuilder
from pi_service.storage.history import HistoryWriter
from pi_service.units import kmh_to_mps

SESSION_SAVE_EVERY_S = 2.0
RECORD_EVERY_S = 1.0  # the session's readings kept for its page and its export: 3600 rows an hour


class SessionLog:
    def __init__(self, config: Config, history: HistoryWriter | None = None):
        self.summary = SummaryBuilder(config.rules.steep_incline.grade_pct, kmh_to_mps(config.rules.session_start_kmh),
                                      body_mass_kg(config.rider.body_mass_kg))
        self.history = history
        self._saved_t = float("-inf")
        self._next_record = 0  # the whole second of the session the next record is due in

    def resume(self, summary: SummaryBuilder) -> None:
        """Go on with a previous sampler's summary (sampling/carry_over.py); saved at the next
        sample, and recorded from the second after its last sample (the earlier ones are kept)."""
        self.summary = summary
        self._saved_t = float("-inf")
        current = summary.current
        self._next_record = 0 if current is None else int((current.last_t - current.started_t) // RECORD_EVERY_S) + 1

    def follow(self, engine: RuleEngine, sample: Sample) -> None:
        """After the engine has seen `sample`: close the sessions it ended, start the one it
        began, save the one under way when it is due, count the sample in and record it when due."""
        for ended in engine.ended:
            finished = self.summary.finish(ended.ended_t)
            if finished is not None and self.history is not None:
                self.history.session(finished.to_dict(), finished=True)
        engine.ended.clear()
        current = engine.sessions.current
        if current is not None and (self.summary.current is None
                                    or self.summary.current.started_t != current.started_t):
            self.summary.start(current.started_t)
            self._saved_t = float("-inf")
            self._next_record = 0
        summary = self.summary.current
        if summary is not None and self.history is not None and sample.t - self._saved_t >= SESSION_SAVE_EVERY_S:
            self._saved_t = sample.t
            self.history.session(summary.to_dict())
        self.summary.add_sample(sample)
        if summary is not None and self.history is not None:
            t_s = sample.t - summary.started_t
            if t_s >= self._next_record * RECORD_EVERY_S:
                self._next_record = int(t_s // RECORD_EVERY_S) + 1
                self.history.record(summary.started_t, (
                    round(t_s, 3), sample.speed_mps, sample.incline_pct, sample.rail_left_n, sample.rail_right_n,
                    sample.cadence_spm, sample.footstrike_g, round(summary.distance_m, 2)))

    def stop(self) -> None:
        """The sampler stops cleanly (SIGTERM, Ctrl-C through the daemon): the session under way
        ends at its last sample and is saved ended. A sampler restarted after this goes on with
        it all the same (storage/history.py opens the row again)."""
        finished = None if self.summary.current is None else self.summary.finish(self.summary.current.last_t)
        if finished is not None and self.history is not None:
            self.history.session(finished.to_dict(), finished=True)

    def event(self, event: Event) -> None:
        """Every event goes to the history; a rule's also counts in the summary."""
        if event.kind not in ACTION_KINDS:
            self.summary.add_event(event)
        if self.history is not None:
            self.history.event(event)
