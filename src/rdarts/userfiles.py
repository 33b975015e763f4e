"""Reading files users hand to rdarts (spaces, configs, genotypes, tables) with one-line errors.

A missing or unparsable file is a user mistake, never a traceback: the caller's error class
(a `RdartsError`) carries "<what> <path> does not exist" or "... is not valid <format>". A YAML
error names the line and column where the parser stopped, on one line, so that the user can go
straight to it (PyYAML's own message spans several lines and quotes "<unicode string>").
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


def yaml_problem(error: yaml.YAMLError) -> str:
    """One line for a YAML error: "line L, column C: problem (while ... from line L, column
    C)", with 1-based lines and columns as editors count them."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return " ".join(str(error).split())
    mark = error.problem_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    if error.context:
        start = error.context_mark
        where = (f" from line {start.line + 1}, column {start.column + 1}"
                 if start is not None and (start.line, start.column) != (mark.line, mark.column)
                 else "")
        text += f" ({error.context}{where})"
    return text


def parse_user_text(text: str, where: str, file_format: str, error: type[RdartsError]) -> Any:
    """`text` parsed as `file_format`; `error("<where> is not valid <format>: ...")` if not."""
    parse, parse_errors = PARSERS[file_format]
    try:
        return parse(text)
    except parse_errors as failure:
        detail = yaml_problem(failure) if isinstance(failure, yaml.YAMLError) else str(failure)
        raise error(f"{where} is not valid {file_format}: {detail}") from None


def read_user_file(path: str | Path, what: str, file_format: str,
                   error: type[RdartsError]) -> Any:
    """The parsed content of `path` (`file_format` JSON or YAML); `error` on any failure."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as failure:
        raise error(f"{what} {path} cannot be read: {failure}") from None
    return parse_user_text(text, f"{what} {path}", file_format, error)
