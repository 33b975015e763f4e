"""DARTS' published recurrent cells, as data (quark0/darts `rnn/genotypes.py`): `rdarts train
darts_rnn_v2 --domain language` trains one by name. Both use DARTS' five ops (tanh, sigmoid
too), so they fit `darts-rnn-full`, not the ReLU/identity space of the paper's Figure 16."""

from __future__ import annotations

CONCAT = list(range(1, 9))

KNOWN_GENOTYPES: dict[str, dict] = {
    # first order (DARTS Table 2: 60.2 valid / 57.6 test perplexity on PTB)
    "darts_rnn_v1": {
        "recurrent": [["relu", 0], ["relu", 1], ["tanh", 2], ["relu", 3], ["relu", 4],
                      ["identity", 1], ["relu", 5], ["relu", 1]],
        "recurrent_concat": CONCAT,
    },
    # second order (58.1 valid / 55.7 test), DARTS' Figure 6
    "darts_rnn_v2": {
        "recurrent": [["sigmoid", 0], ["relu", 1], ["relu", 1], ["identity", 1], ["tanh", 2],
                      ["sigmoid", 5], ["tanh", 3], ["relu", 5]],
        "recurrent_concat": CONCAT,
    },
}
