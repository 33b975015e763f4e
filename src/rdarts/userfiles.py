"""Reading files users hand to rdarts (spaces, configs, genotypes, tables) with one-line errors.

A missing or unparsable file is a user mistake, never a traceback: the caller's error class
(a `RdartsError`) carries "<what> <path> does not exist" or "... is not valid <format>".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from rdarts.errors import RdartsError

PARSERS: dict[str, tuple[Callable[[str], Any], tuple[type[Exception], ...]]] = {
    "JSON": (json.loads, (json.JSONDecodeError,)),
    "YAML": (yaml.safe_load, (yaml.YAMLError,)),
}


def read_user_file(path: str | Path, what: str, file_format: str,
                   error: type[RdartsError]) -> Any:
    """The parsed content of `path` (`file_format` JSON or YAML); `error` on any failure."""
    path = Path(path)
    parse, parse_errors = PARSERS[file_format]
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, *parse_errors) as failure:
        raise error(f"{what} {path} is not valid {file_format}: {failure}") from None
