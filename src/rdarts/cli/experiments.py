"""`sweep`, `report` and `status`: experiment grids and what they produced.

All three are thin: the work lives in rdarts.experiments.runner, rdarts.report.build and
rdarts.experiments.status, imported only when the command runs so that `rdarts --help` and
the other commands stay fast.
"""

from __future__ import annotations

import argparse

from rdarts.cli.flags import Commands, add_executor_flags, add_output_flags


def add_parser(commands: Commands) -> None:
    """`sweep`, `report` and `status`: experiment grids and what they produced."""
    from rdarts.experiments.sweepfile import shipped_sweeps

    sweep = commands.add_parser(
        "sweep", help="run an experiment grid as independent jobs (local or Ray)",
        description="Expand a sweep file's grid into jobs (search, evaluation, analyses, or "
                    "selection) and run each as an independent job with its own run "
                    "directory; a rerun skips finished jobs and resumes unfinished ones. "
                    f"Shipped sweeps: {', '.join(shipped_sweeps())}.",
    )
    sweep.add_argument("sweep", metavar="SWEEP", help="a sweep YAML file or a shipped name")
    sweep.add_argument("--out", help="sweep directory (default: sweeps/<name>)")
    add_executor_flags(sweep)
    sweep.add_argument("--only", help="comma-separated shell patterns of job names to run")
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       dest="settings",
                       help="override a base setting of the sweep, e.g. --set "
                            "data_dir=~/data (repeatable; VALUE is YAML)")
    sweep.add_argument("--dry-run", action="store_true",
                       help="list the jobs and whether each is done, partial or pending in "
                            "--out; run nothing")
    add_output_flags(sweep, many_jobs=True)
    sweep.set_defaults(handler=_sweep)

    report = commands.add_parser(
        "report", help="markdown report, CSV tables and figures from run or sweep directories",
        description="Read every run below the given directories (search, selection and "
                    "training runs, sweeps) and write report.md with CSV tables in the paper's "
                    "layout (mean +- std (median) over seeds) and PNG figures: lambda_max and "
                    "validation error over epochs with the ES point, test error against mean "
                    "lambda_max (Pearson r), spectra, discretisation drop, alpha heat maps and "
                    "the cells.",
    )
    report.add_argument("inputs", metavar="RUN_OR_SWEEP_DIR", nargs="+",
                        help="run directories or folders holding them (searched recursively)")
    report.add_argument("--out", required=True, help="folder for report.md, tables, figures")
    report.set_defaults(handler=_report)

    status = commands.add_parser(
        "status", help="the runs and sweep jobs below a directory, one line each",
        description="List every run directory (search, training, selection) and every sweep "
                    "job below DIR: kind, method, space, status (completed, unfinished, "
                    "diverged; sweep jobs done, partial or pending), epoch/epochs, score and "
                    "test regret where present. Reads the run files only; starts nothing.")
    status.add_argument("root", metavar="DIR", help="a run, sweep or any folder holding them")
    status.set_defaults(handler=_status)


def _sweep(args: argparse.Namespace) -> int:
    from rdarts.experiments.runner import sweep_command

    return sweep_command(args.sweep, out=args.out, executor=args.executor,
                         address=args.address, max_parallel=args.max_parallel,
                         retries=args.retries, dry_run=args.dry_run, only=args.only,
                         quiet=not args.verbose, settings=args.settings,
                         log=(lambda line: None) if args.quiet else None)


def _report(args: argparse.Namespace) -> int:
    from rdarts.report.build import report_command

    return report_command(args.inputs, args.out)


def _status(args: argparse.Namespace) -> int:
    from rdarts.experiments.status import status_command

    return status_command(args.root)
