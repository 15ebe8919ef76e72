"""Layer 8, tools: the other commands: doctor, data, explain (the NLL diagnostic), report, merge, recipes."""
