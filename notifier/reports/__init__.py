"""Proof of value: per-rule reports with uplift against the holdout, and daily counts.

The CLI (``notifier report``), the API (``/v1/reports/*``) and the console all call
:func:`build_report` and :func:`daily_counts`; none has SQL of its own.
"""

from notifier.reports.build import Report, RuleReport, StepReport, build_report
from notifier.reports.queries import DailyCount, daily_counts

__all__ = ["DailyCount", "Report", "RuleReport", "StepReport", "build_report", "daily_counts"]
