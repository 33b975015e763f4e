"""rdarts: robust differentiable architecture search (Zela et al., ICLR 2020)."""

__version__ = "0.1.0"
