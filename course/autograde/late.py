"""Late submissions: a penalty of a share of the score per day late (nbgrader plugin).

nbgrader compares each submission's ``timestamp.txt`` with the assignment's due date (``python -m
course due A "2026-12-24 23:59 UTC"``) and asks this plugin for the penalty. The
default, 10% of the score per started day, capped at the whole score, is set in
``nbgrader_config.py`` (``PercentPerDay.percent``).

Used by: nbgrader's ``AssignLatePenalties``, through ``nbgrader_config.py``.
"""
from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PercentPerDay(LateSubmissionPlugin):
    """``percent`` of the score per started day late, never more than the score."""

    percent = Float(10.0, help="Share of the score taken per started day late, in percent.").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        days = math.ceil(max(0.0, total_seconds_late) / 86400)
        return min(score, score * self.percent / 100 * days)
