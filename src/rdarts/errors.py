"""Exceptions for user mistakes: the CLI turns each into one line on stderr and exit code 2.

A mistyped name should cost one glance, so the messages for unknown names add the closest
known ones (`did_you_mean`).
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


class RdartsError(Exception):
    """Base class of every error caused by input (names, files, data, run directories)."""


class SpaceError(RdartsError):
    """A search space name or file is unknown or malformed."""


class GenotypeError(RdartsError):
    """A genotype file is malformed or does not fit its search space."""


class DataError(RdartsError):
    """A dataset name is unknown, or its files are missing or malformed."""


class RunDirError(RdartsError):
    """A run directory holds a different run, or its checkpoint is unreadable."""


class ConfigError(RdartsError):
    """A configuration file or option value is invalid."""


class DivergenceError(RdartsError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class BenchmarkError(RdartsError):
    """A tabular benchmark that is missing, malformed, incomplete, or does not fit a genotype."""


def did_you_mean(name: str, known: Iterable[str], quote: bool = True) -> str:
    """" (did you mean 'x'?)" naming the known names closest to `name`, or "" if none is
    close (difflib's ratio >= 0.6)."""
    close = get_close_matches(name, list(known), n=3)
    if not close:
        return ""
    names = [repr(c) if quote else c for c in close]
    return f" (did you mean {' or '.join(names)}?)"
