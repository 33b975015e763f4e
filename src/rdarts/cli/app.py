"""Command line: `rdarts search|rdarts|select|sweep|report|bench|train|discretize|hessian|
spaces`.

User mistakes (unknown names, malformed files, missing data, an --out that cannot be written,
a run directory that holds another run, a damaged checkpoint, a full disk) end with one line on
stderr and exit status 2, never a traceback; a diverging loss ends with one line and status 3.
A mistake on the command line itself (argparse's errors) prints the command's short usage line
and one error line, with the closest flag or name when one is close. Anything else is a bug of
ours or of the platform: one line naming the error and status 1, or with `--debug` (anywhere
on the command line, before or after the command) the traceback.

This module only assembles the parser from the command modules (each registers its own
commands with `add_parser`) and turns errors into exit statuses; the console script
`rdarts` and `python -m rdarts` both call `main`.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from rdarts import __version__
from rdarts.cli import bench, evaluation, experiments, search, spaces
from rdarts.errors import DivergenceError, RdartsError, did_you_mean

EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
DEBUG_HELP = "on an unexpected error, show its traceback (also accepted after the command)"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class Parser(argparse.ArgumentParser):
    """argparse with rdarts' rules: no abbreviated flags (`--epoch` is not `--epochs`), and
    the closest names for a mistyped choice (commands, presets, methods ...)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # argparse's hook for `choices`; its own message lists them but suggests nothing.
        if action.choices is not None and value not in action.choices:
            known = [str(choice) for choice in action.choices]
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{did_you_mean(str(value), known)}; "
                        f"choose from {', '.join(known)}")


def build_parser() -> Parser:
    parser = Parser(
        prog="rdarts",
        description="Robust differentiable architecture search (Zela et al., ICLR 2020).",
    )
    parser.add_argument("--version", action="version", version=f"rdarts {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # The order of the command list in `rdarts --help`.
    search.add_parser(commands)
    experiments.add_parser(commands)
    bench.add_parser(commands)
    evaluation.add_parser(commands)
    spaces.add_parser(commands)
    for command in _parsers(parser):
        _finish(command, is_command=command is not parser)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    return [sub for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for sub in dict.fromkeys(action.choices.values())]


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every parser below it (`bench`, `bench s5`, `bench s5 lookup`, ...)."""
    yield parser
    for sub in _subcommands(parser):
        yield from _parsers(sub)


def _finish(parser: argparse.ArgumentParser, is_command: bool) -> None:
    """What every parser gets once its arguments are known: `--debug` on each command that
    runs something, the defaults in its help, and the short usage line."""
    if is_command and not _subcommands(parser):
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help=DEBUG_HELP)
        parser.set_defaults(command_parser=parser)
    for action in parser._actions:
        if _shows_default(action):
            action.help = f"{action.help} (default: {action.default})"
    parser.usage = short_usage(parser)


def _shows_default(action: argparse.Action) -> bool:
    """An argparse default worth saying: a value (not None, not a flag's False), not already
    said in the help text (the settings flags say their dataclass defaults themselves)."""
    default = action.default
    return (bool(action.option_strings) and action.help not in (None, argparse.SUPPRESS)
            and default is not None and default is not False and default != argparse.SUPPRESS
            and action.nargs != 0 and "(default" not in action.help)


def short_usage(parser: argparse.ArgumentParser) -> str:
    """`PROG [options] --out OUT GENOTYPE`: the positionals and required flags only (the full
    argparse usage of `search` is 20 lines)."""
    formatter = parser._get_formatter()
    needed, optional = [], False
    for action in parser._actions:
        if not action.option_strings:
            needed.append(formatter._format_args(action, action.dest))
        elif action.required or getattr(action, "usage_required", False):
            needed.append(f"{action.option_strings[0]} "
                          f"{formatter._format_args(action, action.dest.upper())}")
        elif not isinstance(action, argparse._HelpAction):
            optional = True
    return " ".join(["%(prog)s", *(["[options]"] if optional else []), *needed])


def parse(parser: Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an unrecognised one is an error of the command it was given to, with
    that command's usage line and the closest flag."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = getattr(args, "command_parser", parser)
        flags = [flag for action in command._actions for flag in action.option_strings]
        hints = "".join(did_you_mean(extra.split("=", 1)[0], flags, quote=False)
                        for extra in extras if extra.startswith("-"))
        command.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
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
    except OSError as error:
        if error.errno in DISK_FULL + NOT_WRITABLE:
            print(f"rdarts: error: {_os_problem(error)}", file=sys.stderr)
            return EXIT_USAGE
        return _unexpected(error, args)
    except Exception as error:
        return _unexpected(error, args)


def _os_problem(error: OSError) -> str:
    """One line for a full disk, or a location we may not write (or read)."""
    if error.errno in DISK_FULL:
        where = f" while writing {error.filename}" if error.filename else ""
        return (f"the disk is full ({error.strerror}{where}); every run file is replaced "
                "atomically, so the last checkpoint is intact: free some space and continue "
                "with --resume")
    return f"{error.filename or 'a file'}: {error.strerror}"


def _unexpected(error: Exception, args: argparse.Namespace) -> int:
    """The last resort: a bug (ours or a library's) as one line, or its traceback."""
    if getattr(args, "debug", False):
        traceback.print_exc()
    else:
        lines = str(error).strip().splitlines()
        message = f": {lines[0]}" if lines else ""
        print(f"rdarts: error: {type(error).__name__}{message} "
              "(run with --debug for the traceback)", file=sys.stderr)
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
