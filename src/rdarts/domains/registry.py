"""The domains rdarts knows, by name (`--domain`); the one place that imports them.

Domains are imported on first use, so a command on one domain never pays for another's
imports (torchvision, corpora).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rdarts.errors import ConfigError

if TYPE_CHECKING:
    from rdarts.domains.base import Domain

DOMAINS: dict[str, str] = {
    "image": "rdarts.domains.image.domain:IMAGE",
    "language": "rdarts.domains.language.domain:LANGUAGE",
    "disparity": "rdarts.domains.disparity.domain:DISPARITY",
}
DEFAULT_DOMAIN = "image"

# Domains with settings of their own: a torch-free module with the settings dataclass named
# here, the search settings the domain uses instead of the image defaults (`SEARCH_DEFAULTS`),
# its search presets (`PRESETS`) and, for its own training procedure, `TRAIN_CONFIG` and
# `TRAIN_PRESETS`. The image settings are SearchConfig's and TrainConfig's.
DOMAIN_SETTINGS: dict[str, str] = {
    "language": "rdarts.domains.language.settings:LanguageSettings",
    "disparity": "rdarts.domains.disparity.settings:DisparitySettings",
}


@dataclass(frozen=True)
class DomainSettings:
    """A domain's own settings: their dataclass (fields with `help` metadata), the search
    settings it changes by default, and its presets (search and own settings, flat)."""

    domain: str
    cls: type
    search_defaults: dict[str, Any]
    presets: dict[str, dict[str, Any]]
    train_cls: type | None = None
    train_presets: dict[str, dict[str, Any]] | None = None


def domain_settings(name: str) -> DomainSettings | None:
    """The own settings of domain `name`, or None (image: everything is in SearchConfig)."""
    if name not in DOMAIN_SETTINGS:
        return None
    module_name, _, attribute = DOMAIN_SETTINGS[name].partition(":")
    module = importlib.import_module(module_name)
    return DomainSettings(name, getattr(module, attribute), dict(module.SEARCH_DEFAULTS),
                          dict(module.PRESETS), getattr(module, "TRAIN_CONFIG", None),
                          getattr(module, "TRAIN_PRESETS", None))


def domain_names() -> tuple[str, ...]:
    return tuple(DOMAINS)


def get_domain(name: str | None = None) -> Domain:
    """The domain object registered as `name` (default: image)."""
    name = DEFAULT_DOMAIN if name is None else name
    if name not in DOMAINS:
        raise ConfigError(f"unknown domain {name!r}; known: {', '.join(DOMAINS)}")
    module, _, attribute = DOMAINS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def domain_genotype(data: object, domain: str | None = None, where: str = "genotype") -> Any:
    """A genotype's JSON form parsed with the cell layouts of `domain` (default: image): an
    S6 upsampling cell keeps all four inputs in its first node, which only its layout says."""
    from rdarts.core.genotype import genotype_from_dict

    return genotype_from_dict(data, where=where, layouts=get_domain(domain).layouts)
