"""`sweep` and `report`: experiment grids and what they produced.

Both are thin: the work lives in rdarts.experiments.runner and rdarts.report.build, imported
only when the command runs so that `rdarts --help` and the other commands stay fast.
"""

from __future__ import annotations

import argparse

from rdarts.cli.flags import Commands


def add_parser(commands: Commands) -> None:
    """`sweep` and `report`: experiment grids and what they produced."""
    sweep = commands.add_parser(
        "sweep", help="run an experiment grid as independent jobs (local or Ray)",
        description="Expand a sweep file's grid into jobs (search, evaluation, analyses, or "
                    "selection) and run each as an independent job with its own run "
                    "directory; a rerun skips finished jobs and resumes unfinished ones. "
                    "Shipped sweeps: table1, table2_fig4_drop_path, fig5_l2, table5, fig16_ptb, "
                    "fig16_cpu, tiny.",
    )
    sweep.add_argument("sweep", metavar="SWEEP", help="a sweep YAML file or a shipped name")
    sweep.add_argument("--out", help="sweep directory (default: sweeps/<name>)")
    sweep.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="run the jobs one after another here, or as Ray tasks")
    sweep.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    sweep.add_argument("--max-parallel", type=int, help="Ray: jobs in flight at once")
    sweep.add_argument("--retries", type=int, default=1,
                       help="extra attempts for a failed job (1)")
    sweep.add_argument("--only", help="comma-separated shell patterns of job names to run")
    sweep.add_argument("--dry-run", action="store_true", help="list the jobs, run nothing")
    sweep.add_argument("--verbose", action="store_true", help="show every job's epochs")
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


def _sweep(args: argparse.Namespace) -> int:
    from rdarts.experiments.runner import sweep_command

    return sweep_command(args.sweep, out=args.out, executor=args.executor,
                         address=args.address, max_parallel=args.max_parallel,
                         retries=args.retries, dry_run=args.dry_run, only=args.only,
                         quiet=not args.verbose)


def _report(args: argparse.Namespace) -> int:
    from rdarts.report.build import report_command

    return report_command(args.inputs, args.out)
