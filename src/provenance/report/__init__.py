"""``provenance report``: trace a whole study (generators x groups x scenes) and write citable, analysable files."""

from .inputs import Generation, InputSet, read_inputs
from .runner import ReportSummary, run_report

__all__ = ["Generation", "InputSet", "ReportSummary", "read_inputs", "run_report"]
