"""The CUDA path computes what the CPU path computes (run by benchmarks/gpu_check.sh on a GPU;
skipped where CUDA is absent): the same hypergradients, lambda_max and training steps, within
the tolerances float32 kernels on two devices allow."""

from __future__ import annotations

import pytest
import torch

from rdarts.core.lanczos import lanczos_extremes
from rdarts.domains.base import Batch
from rdarts.domains.image.datasets import random_dataset
from rdarts.domains.image.domain import ImageDomain
from rdarts.search import probe
from rdarts.search.config import resolve
from rdarts.search.loop import Search

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

TINY = {"space": "s3", "nodes": 2, "layers": 3, "channels": 4, "batch_size": 16, "epochs": 2}


def _search(device: str, **changes) -> Search:
    config = resolve(overrides={**TINY, **changes, "device": device})
    return Search(config, ImageDomain(dataset=random_dataset(96, size=16)), torch.device(device))


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().flatten().cpu() for t in tensors])


def _to(batch: Batch, device: str) -> Batch:
    return Batch(tuple(t.to(device) for t in batch.inputs), batch.targets.to(device),
                 batch.size)


# The speed options within fp32 rounding (tests/test_speed_options.py), each on both devices.
SPEED_OPTIONS = [{}, {"channels_last": True}, {"mixed_sum": "fused"}, {"lean_unroll": True},
                 {"mixed_sum": "batched", "lean_unroll": True},
                 {"channels_last": True, "mixed_sum": "fused", "lean_unroll": True}]


@pytest.mark.parametrize("option", SPEED_OPTIONS, ids=lambda o: "-".join(o) or "default")
@pytest.mark.parametrize(("order", "second_order"),
                         [(1, "finite-difference"), (2, "finite-difference"), (2, "exact")])
def test_an_architecture_step_on_cuda_equals_the_cpu_step(order, second_order, option):
    """Same weights, alpha and batches on both devices (the streams' generators differ by
    device, so the CPU's batches are copied over); one arch step then one weight step."""
    cpu, cuda = (_search(device, order=order, second_order=second_order, **option)
                 for device in ("cpu", "cuda"))
    plan = cpu.plan()
    for search in (cpu, cuda):
        search.prepare_epoch(plan)
    for _ in range(2):
        train, val = cpu.data.train.next(), cpu.data.val.next()
        cpu.darts_step(train, val, plan)
        cuda.darts_step(_to(train, "cuda"), _to(val, "cuda"), plan)
    assert torch.allclose(_flat(cpu.architecture.parameters_list()),
                          _flat(cuda.architecture.parameters_list()), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("option", SPEED_OPTIONS[:3], ids=lambda o: "-".join(o) or "default")
def test_lambda_max_on_cuda_equals_the_cpu_value_within_one_percent(option):
    values = []
    for device in ("cpu", "cuda"):
        search = _search(device, **option)
        batches = search.curvature_batches(1)
        with probe.hessian_operator(search, batches) as operator:
            values.append(lanczos_extremes(operator.matvec, operator.n).lambda_max)
    assert values[1] == pytest.approx(values[0], rel=1e-2)


def test_amp_on_cuda_keeps_the_finite_difference_in_fp32_and_the_direction():
    """bf16 autocast on CUDA as on the CPU (tests/test_speed_options.py): the weight step's
    logits in bf16, the hypergradient within cosine 0.9 of fp32 at the same state."""
    results = []
    for amp in (False, True):
        search = _search("cuda", amp=amp)
        plan = search.plan()
        search.prepare_epoch(plan)
        train, val = search.data.train.next(), search.data.val.next()
        alpha = search.architecture.parameters_list()
        results.append(torch.cat([g.flatten() for g in
                                  search._second_order(alpha, train, val, plan)]))
        assert (search.weight_step(train, plan).dtype == torch.bfloat16) == amp
    assert torch.nn.functional.cosine_similarity(results[1], results[0], dim=0) > 0.9


def test_a_training_step_on_cuda_equals_the_cpu_step():
    from rdarts.core.genotype import sample_genotype
    from rdarts.domains.image.spaces import get_space
    from rdarts.domains.image.training import Training
    from rdarts.search.config import resolve_train

    genotype = sample_genotype(get_space("s3", 2), torch.Generator().manual_seed(0))
    trainings = []
    for device in ("cpu", "cuda"):
        config = resolve_train("quick", overrides={"epochs": 1, "device": device,
                                                   "max_train_images": 128, "layers": 3})
        trainings.append(Training(config, genotype, random_dataset(128, size=16),
                                  torch.device(device)))
    images, labels = trainings[0].train_stream.next()
    losses = [training.step(images.to(training.device), labels.to(training.device), 0.0)[0]
              .item() for training in trainings]
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
