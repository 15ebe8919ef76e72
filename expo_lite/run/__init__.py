"""Layer 6, run: what a training run leaves and shows: the run directory, metrics and NaN callbacks, the
live dashboard, and the memory planner behind OOM advice."""
