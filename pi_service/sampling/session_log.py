"""Each session's summary (time, distance, cadence, every rule's count and seconds), built from the
samples and the events, and kept in the history: every 2 s while it runs and when it ends."""

from __future__ import annotations

from pi_service.config import Config
from pi_service.core.engine import RuleEngine
from pi_service.core.events import ACTION_KINDS, Event
from pi_service.core.sample import Sample
from pi_service.core.summary import SummaryBuilder
from pi_service.storage.history import HistoryWriter
from pi_service.units import kmh_to_mps

SESSION_SAVE_EVERY_S = 2.0


class SessionLog:
    def __init__(self, config: Config, history: HistoryWriter | None = None):
        self.summary = SummaryBuilder(config.rules.steep_incline.grade_pct, kmh_to_mps(config.rules.session_start_kmh))
        self.history = history
        self._saved_t = float("-inf")

    def resume(self, summary: SummaryBuilder) -> None:
        """Go on with a previous sampler's summary (sampling/carry_over.py); saved at the next sample."""
        self.summary = summary
        self._saved_t = float("-inf")

    def follow(self, engine: RuleEngine, sample: Sample) -> None:
        """After the engine has seen `sample`: close the sessions it ended, start the one it
        began, save the one under way when it is due, and count the sample in."""
        for ended in engine.ended:
            finished = self.summary.finish(ended.ended_t)
            if finished is not None and self.history is not None:
                self.history.session(finished.to_dict())
        engine.ended.clear()
        current = engine.sessions.current
        if current is not None and (self.summary.current is None
                                    or self.summary.current.started_t != current.started_t):
            self.summary.start(current.started_t)
            self._saved_t = float("-inf")
        if self.summary.current is not None and self.history is not None and \
                sample.t - self._saved_t >= SESSION_SAVE_EVERY_S:
            self._saved_t = sample.t
            self.history.session(self.summary.current.to_dict())
        self.summary.add_sample(sample)

    def event(self, event: Event) -> None:
        """Every event goes to the history; a rule's also counts in the summary."""
        if event.kind not in ACTION_KINDS:
            self.summary.add_event(event)
        if self.history is not None:
            self.history.event(event)
