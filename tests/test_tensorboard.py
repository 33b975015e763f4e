"""TensorBoard event files mirror the numeric metrics when tensorboard is installed."""

from __future__ import annotations

import pytest

from rdarts.runs.tensorboard import scalars
from rdarts.search.config import resolve
from rdarts.search.task import run_search


def test_scalars_keep_finite_numbers_only():
    record = {"epoch": 3, "train_loss": 1.5, "val_accuracy": 0.5, "lambda_max": float("nan"),
              "genotype": {"normal": []}, "es_simulate": True, "lr": 0.01}
    assert scalars(record) == {"loss/train": 1.5, "accuracy/val": 0.5, "other/lr": 0.01}


def test_event_files_are_written_next_to_the_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_search(resolve(overrides={"space": "s3", "nodes": 1, "layers": 3, "channels": 4,
                                  "batch_size": 16, "max_train_images": 48, "epochs": 2,
                                  "val_batches": 1, "device": "cpu"}),
               tmp_path / "run", quiet=True)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    steps = [event.step for event in events.Scalars("curvature/lambda_max")]
    assert steps == [0, 1]
    assert len(events.Scalars("loss/train")) == 2
