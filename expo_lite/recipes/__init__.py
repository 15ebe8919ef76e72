"""Layer 7, recipes: end-to-end flows a user starts (`expo-lite train`, `expo-lite eval`): ExP-GRPO and its
baselines, offline and online ExP-DPO rounds, evaluation. The YAML recipes themselves are data in
configs/ (expo_lite/configs links to it)."""
