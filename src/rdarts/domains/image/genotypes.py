"""Published image cells, as data: `rdarts train darts_v2` trains one by name."""

from __future__ import annotations

from pathlib import Path

from rdarts.core.genotype import Genotype, load_genotype
from rdarts.domains.image.spaces import LAYOUTS

# Published cells, as data: DARTS (second order) from Liu et al. (2019), their Figure 4.
KNOWN_GENOTYPES: dict[str, dict] = {
    "darts_v2": {
        "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0],
                   ["sep_conv_3x3", 1], ["sep_conv_3x3", 1], ["skip_connect", 0],
                   ["skip_connect", 0], ["dil_conv_3x3", 2]],
        "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2],
                   ["max_pool_3x3", 1], ["max_pool_3x3", 0], ["skip_connect", 2],
                   ["skip_connect", 2], ["max_pool_3x3", 1]],
    },
}


def load_image_genotype(path: str | Path) -> Genotype:
    """A genotype file, a search run directory, or a published name (`darts_v2`)."""
    return load_genotype(path, KNOWN_GENOTYPES, LAYOUTS)
