"""Experiments: sweeps of searches, selections and trainings run through executors.

`sweepfile` reads a sweep file, `jobs` expands it into jobs, `steps` runs one job and `runner`
runs a whole sweep; `executors` runs jobs in-process or on Ray. Import from those modules.
"""
