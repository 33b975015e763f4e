"""`rdarts sweep ... --set KEY=VALUE`: a sweep's base settings overridden from the command line
(where the data lives, the device ...), so that shipped sweeps need no edited copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rdarts.errors import ConfigError
from rdarts.experiments.sweepfile import VARIANT_AXIS, Sweep, _options
from rdarts.userfiles import parse_user_text


def with_settings(sweep: Sweep, assignments: Sequence[str]) -> Sweep:
    """The sweep with `KEY=VALUE` assignments (`rdarts sweep --set`) over its base settings:
    where the data lives, the device ... VALUE is read as YAML (`epochs=2` is a number); a key
    that a grid axis or a variant sets would be overridden there, so it is refused."""
    base = dict(sweep.base)
    variants = sweep.grid.get(VARIANT_AXIS, ())
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. data_dir=~/data")
        [(name, value)] = _options({key.strip(): _set_value(text, key)}, "--set",
                                   sweep.kind).items()
        if name in sweep.grid or any(name in variant.search for variant in variants):
            raise ConfigError(f"--set {key}: sweep {sweep.name} sets {name} per job (a grid "
                              "axis or its variants), which would override --set")
        base[name] = value
    return dataclasses.replace(sweep, base=base)


def _set_value(text: str, key: str) -> Any:
    """A --set value: YAML, with 1e-3 a number (YAML 1.1 reads it as text)."""
    value = parse_user_text(text, f"--set {key}", "YAML", ConfigError)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
