"""The domains rdarts knows, by name (`--domain`); the one place that imports them.

Domains are imported on first use, so a command on one domain never pays for another's
imports (torchvision, corpora).
"""

from __future__ import annotations

import importlib

from rdarts.domains.base import Domain
from rdarts.errors import ConfigError

DOMAINS: dict[str, str] = {
    "image": "rdarts.domains.image.domain:IMAGE",
}
DEFAULT_DOMAIN = "image"


def domain_names() -> tuple[str, ...]:
    return tuple(DOMAINS)


def get_domain(name: str | None = None) -> Domain:
    """The domain object registered as `name` (default: image)."""
    name = DEFAULT_DOMAIN if name is None else name
    if name not in DOMAINS:
        raise ConfigError(f"unknown domain {name!r}; known: {', '.join(DOMAINS)}")
    module, _, attribute = DOMAINS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
