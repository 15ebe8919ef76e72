"""Layer 4, core: what every algorithm does with a model: sample many rows in one decode, take per-token
log-probabilities without full-vocabulary logits, and share work between processes."""
