"""A session's readings at 1 Hz as a recording (spec 5.3): `t_s` from the session's start, the
five fixed columns and the two footstrike ones, so `replay` runs the rules over it again."""

from __future__ import annotations

from pi_service.core.sample import Sample
from pi_service.export import ExportedSession
from pi_service.recording import HEADER, format_row


def build(session: ExportedSession) -> bytes:
    rows = [HEADER]
    for r in session.records:
        rows.append(format_row(Sample(r["t_s"], r["speed_mps"], r["incline_pct"], r["rail_left_n"], r["rail_right_n"],
                                      r.get("cadence_spm"), r.get("footstrike_g"))))
    return ("\n".join(rows) + "\n").encode("utf-8")
