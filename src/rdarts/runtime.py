"""Device choice and the random-number state a checkpoint must carry."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from rdarts.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; an explicit 'cuda' without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} requested but CUDA is not available here")
    return device


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def rng_state(device: torch.device) -> dict[str, Any]:
    """The global RNG states (torch CPU, CUDA, numpy, Python): noise ops and drop path draw
    from them, so an exact resume must restore them."""
    state = {"torch": torch.get_rng_state(), "numpy": _numpy_state(),
             "python": _python_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(_numpy_state_from(state["numpy"]))
    random.setstate(_python_state_from(state["python"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# Checkpoints hold only tensors and plain Python data, so that `torch.load(weights_only=True)`
# can read them and no file in a run directory can run code: the numpy and Python RNG states
# are stored as tensors and lists, not as pickled objects.

def _numpy_state() -> dict[str, Any]:
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position), "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_from(state: dict[str, Any]) -> tuple[Any, ...]:
    keys = np.asarray(state["keys"].numpy() if isinstance(state["keys"], torch.Tensor)
                      else state["keys"], dtype=np.uint32)
    return (state["name"], keys, state["position"], state["has_gauss"], state["cached"])


def _python_state() -> list[Any]:
    version, internal, gauss_next = random.getstate()
    return [version, list(internal), gauss_next]


def _python_state_from(state: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss_next = state
    return (version, tuple(internal), gauss_next)
