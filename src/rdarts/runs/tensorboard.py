"""Optional TensorBoard event files next to metrics.jsonl, for users who watch runs live.

Active only when the `tensorboard` package is installed (`pip install 'rdarts[tensorboard]'`);
metrics.jsonl stays the record of a run, the event files are a view of it.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from rdarts.runs.rundir import RunDir


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class EventLog:
    """Writes every numeric field of a metrics line as a scalar at step = epoch."""

    def __init__(self, run_dir: RunDir) -> None:
        self._writer: Any = None
        if available():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(run_dir.file("tensorboard")))

    def write(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            return
        for key, value in scalars(record).items():
            self._writer.add_scalar(key, value, global_step=record["epoch"])
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics line, grouped for TensorBoard ('loss/train', ...)."""
    groups = {"train_loss": "loss/train", "val_loss": "loss/val", "test_loss": "loss/test",
              "train_accuracy": "accuracy/train", "val_accuracy": "accuracy/val",
              "test_accuracy": "accuracy/test", "lambda_max": "curvature/lambda_max",
              "lambda_min": "curvature/lambda_min"}
    out = {}
    for key, value in record.items():
        if key == "epoch" or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[groups.get(key, f"other/{key}")] = float(value)
    return out
