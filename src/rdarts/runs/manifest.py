"""manifest.json: what a reader needs to trust a run's numbers (versions, seed, device, the
source revision and the command), written by the epoch driver when a run starts and ends."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

# The rdarts command line that started a job, as JSON, for jobs run in another process (a Ray
# worker, whose own argv names Ray's worker script): executors set it around each job.
COMMAND_ENV = "RDARTS_COMMAND"


def git_revision() -> str | None:
    """The source checkout's commit (with '+dirty' when modified), if rdarts runs from one."""
    source = Path(__file__).resolve().parent
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                                  text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=source, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return revision + ("+dirty" if dirty.strip() else "")


def command_line() -> list[str]:
    """The command that started this work: the originating one an executor passed down to
    its job (COMMAND_ENV), else this process's own."""
    passed = os.environ.get(COMMAND_ENV)
    if passed:
        try:
            command = json.loads(passed)
        except json.JSONDecodeError:
            command = None
        if isinstance(command, list) and all(isinstance(part, str) for part in command):
            return command
    return list(sys.argv)


def manifest(seed: int, device: torch.device) -> dict[str, Any]:
    """Versions, seed, device and git revision: what a reader needs to trust a figure."""
    import numpy
    import torchvision

    import rdarts

    return {
        "rdarts": rdarts.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "git_revision": git_revision(),
        "command": command_line(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
