"""Command line: `rdarts search|rdarts|select|sweep|report|bench|train|discretize|hessian|
spaces`.

User mistakes (unknown names, malformed files, missing data, a run directory that holds
another run, a damaged checkpoint, a diverging loss) end with one line on stderr and a
non-zero exit status, never a traceback.

This module only assembles the parser from the command modules (each registers its own
commands with `add_parser`) and turns errors into exit statuses; the console script
`rdarts` and `python -m rdarts` both call `main`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rdarts import __version__
from rdarts.cli import bench, evaluation, experiments, search, spaces
from rdarts.errors import DivergenceError, RdartsError

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rdarts",
        description="Robust differentiable architecture search (Zela et al., ICLR 2020).",
    )
    parser.add_argument("--version", action="version", version=f"rdarts {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # The order of the command list in `rdarts --help`.
    search.add_parser(commands)
    experiments.add_parser(commands)
    bench.add_parser(commands)
    evaluation.add_parser(commands)
    spaces.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DivergenceError as error:
        print(f"rdarts: diverged: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except RdartsError as error:
        print(f"rdarts: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `rdarts ... | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print("rdarts: interrupted; the last finished epoch's checkpoint is kept "
              "(continue with --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
