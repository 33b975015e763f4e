"""How the report names configurations: values as labels and tables show them, and the
settings a selection's candidates differ in ("drop_path=0.2")."""

from __future__ import annotations

import json
from typing import Any


def format_value(value: Any) -> str:
    """A configuration value as names, labels and tables show it (lower-case booleans, compact
    JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """A setting with its domain's own settings beside the shared ones (augment_scale ...), so
    that the report names the one domain setting that differs, not the whole nested dict."""
    own = config.get("domain_settings")
    flat = {k: v for k, v in config.items() if k != "domain_settings"}
    return {**flat, **own} if isinstance(own, dict) else flat


def candidate_labels(candidates: Any) -> dict[str, str]:
    """{candidate: 'drop_path=0.2'}: the settings a selection's candidate differs in from the
    others (its own name when they differ in nothing)."""
    configs = {n: c for n, c in candidates.items() if isinstance(c, dict)} \
        if isinstance(candidates, dict) else {}
    keys = dict.fromkeys(k for c in configs.values() for k in c)
    differing = [k for k in keys if len({format_value(c.get(k)) for c in configs.values()}) > 1]
    return {name: ",".join(f"{k}={format_value(c.get(k))}" for k in differing) or name
            for name, c in configs.items()}
