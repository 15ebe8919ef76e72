"""Layer 2, data: the problems (hub datasets, local files, the embedded arithmetic task) and the two prompts
of ExPO, P(q) and the hinted P_x(q, a*). Gold answers are checked with the verify layer when loaded."""
