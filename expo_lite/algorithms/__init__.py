"""Layer 5, algorithms: ExPO itself. The self-explanation engine (explain), the SFT term and its schedule,
ExP-GRPO on TRL's (or Unsloth's) GRPOTrainer, ExP-DPO's preference pairs, and what Unsloth's generated
trainers change."""
