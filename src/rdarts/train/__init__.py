"""Training a found genotype from scratch (paper Section 2, spec section 10), for any domain."""
