"""Exceptions for user mistakes: the CLI turns each into one line on stderr and exit code 2."""


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
