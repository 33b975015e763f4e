"""RS-ws: random search with weight sharing (Li & Talwalkar 2019; spec section 9).

The supernet trains on one uniformly sampled architecture per step, with the same optimiser,
budget and epoch as DARTS (`Search.train_epoch`); afterwards `rs_samples` random architectures
are scored with the shared weights on a few validation batches, the best `rs_top` are scored
again on the whole validation split, and the best of those is the answer. Scores are the
domain's (accuracy: higher is better; EPE, perplexity: lower).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import torch
from torch.func import functional_call
from tqdm import tqdm

from rdarts.core.genotype import Genotype, genotype_from_dict, sample_genotype
from rdarts.core.objective import scratch_buffers
from rdarts.domains.base import Batch, EpochPlan
from rdarts.runs.records import MetricsLine, SearchResult
from rdarts.search.methods import Darts, regret_text

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rdarts.runs.rundir import RunDir
    from rdarts.search.loop import Search


class RandomSearchWS(Darts):
    """RS-ws as a method: sampled-path weight steps, the choice after training."""

    name = "rs-ws"
    validation_batches = False  # no architecture step

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed + 3)
        self.best: dict[str, Any] | None = None

    def step(self, search: Search, train_batch: Batch, val_batch: Batch | None,
             plan: EpochPlan) -> Any:
        genotype = sample_genotype(search.space, self.generator)
        return search.weight_step(train_batch, plan, genotype)

    def end_epoch(self, search: Search, record: MetricsLine) -> None:
        """Every `rs_choose_every` epochs, the choice RS-ws would return if the search stopped
        now (paper Figure 2 follows it over the epochs); scoring leaves the search path as is."""
        every = search.config.rs_choose_every
        if not every or (search.epoch + 1) % every:
            return
        chosen = self.choose(search)
        if search.epoch + 1 == search.epochs:
            self.best = chosen  # the final answer: `choose` would repeat the same scoring
        score = search.domain.score.name
        record["genotype"] = chosen["genotype"]
        record[f"rs_val_{score}"] = chosen[f"val_{score}"]
        record.update(search.benchmark_fields(chosen["genotype"]))

    def epoch_text(self, search: Search, record: dict[str, Any]) -> str:
        score = search.domain.score.name
        chosen = (f"  chosen val {score[:3]} {record[f'rs_val_{score}']:.3f}"
                  if f"rs_val_{score}" in record else "")
        return (f"{search.domain.epoch_text(record)}  lr {record['lr']:.4f}{chosen}"
                f"{regret_text(record)}")

    def write_epoch_files(self, search: Search, run_dir: RunDir) -> None:
        """The architecture is chosen only after training (see `answer`)."""

    @torch.no_grad()
    def score(self, search: Search, genotype: Genotype, batches: Iterable[Batch]) -> float:
        """The domain's score of one architecture with the shared weights; BN uses batch
        statistics on scratch buffers (non-affine BN after weight sharing has no
        per-architecture running statistics worth trusting; the supernet's stay untouched)."""
        supernet = search.supernet
        supernet.train()
        sums: dict[str, float] = {}
        carry = getattr(batches, "carry", None)  # a pass feeds outputs back (RNN hidden state)
        for batch in batches:
            state = {**scratch_buffers(supernet), **dict(supernet.named_parameters())}
            outputs = functional_call(supernet, state, (*batch.inputs, None),
                                      {**batch.options, "genotype": genotype})
            for key, value in search.domain.metrics(outputs, batch).items():
                sums[key] = sums.get(key, 0.0) + value.item()
            if carry is not None:
                carry(outputs)
        return search.domain.summarise(sums)[search.domain.score.name]

    def choose(self, search: Search, quiet: bool = True) -> dict[str, Any]:
        """The two-round scoring of spec section 9; deterministic given the seed.

        `rs_samples` architectures are drawn uniformly; each distinct one is scored once (in a
        small space such as S5's 81 a thousand draws repeat architectures, and a repeat would
        score the same and crowd the re-scored top out of distinct candidates).

        The first round's batches are those of the last trained epoch, so the choice after the
        search equals the one logged after its final epoch (`rs_choose_every`)."""
        config = search.config
        name = search.domain.score.name
        sign = 1.0 if search.domain.score.higher_is_better else -1.0
        generator = torch.Generator().manual_seed(config.seed + 4)
        drawn = [sample_genotype(search.space, generator) for _ in range(config.rs_samples)]
        distinct: dict[str, Genotype] = {}
        for genotype in drawn:  # first appearance order
            distinct.setdefault(json.dumps(genotype.to_dict()), genotype)
        samples = list(distinct.values())
        rng_state = torch.get_rng_state()
        last_trained = min(search.epoch, config.epochs - 1)
        first = search.curvature_batches(config.rs_score_batches, epoch=last_trained)
        scores = [self.score(search, g, first)
                  for g in tqdm(samples, desc="scoring", leave=False, disable=quiet)]
        order = sorted(range(len(samples)), key=lambda i: -sign * scores[i])[: config.rs_top]
        full = list(search.data.evaluation())  # the whole split, prepared once for the top
        rescored = [(self.score(search, samples[i], full), i) for i in order]
        best_score, best = max(rescored, key=lambda pair: (sign * pair[0], -pair[1]))
        torch.set_rng_state(rng_state)
        return {"genotype": samples[best].to_dict(), f"val_{name}": best_score,
                f"first_round_{name}": scores[best], "sampled": len(drawn),
                "scored": len(samples),
                "top": [{"genotype": samples[i].to_dict(), "first_round": scores[i],
                         f"val_{name}": s} for s, i in rescored]}

    def chosen(self, search: Search) -> dict[str, Any]:
        if self.best is None:
            self.best = self.choose(search)
        return self.best

    def answer(self, search: Search) -> Genotype:
        return genotype_from_dict(self.chosen(search)["genotype"],
                                  layouts=search.domain.layouts)

    def summary(self, search: Search, records: list[MetricsLine]) -> SearchResult:
        best = self.chosen(search)
        result: SearchResult = {
            "method": "rs-ws", "space": search.space.name, "epochs": search.epochs,
            "genotype": best["genotype"], "rs_ws": best,
            "search_seconds": round(sum(r["seconds"] for r in records), 3),
            "score": search.domain.score.to_dict()}
        result.update(search.benchmark_fields(result["genotype"]))
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"rs_generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["rs_generator"])
