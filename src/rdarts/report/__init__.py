"""`rdarts report`: tables, figures and report.md from run and sweep directories.

The package is split by concept: collect (reading run directories), tables (settings,
statistics, CSV and markdown), figures (the paper's plots), cells (cell diagrams), style (shared
matplotlib conventions) and build (assembling report.md). Callers need only the entry points.
"""

from rdarts.report.build import build_report, report_command

__all__ = ["build_report", "report_command"]
