"""Layer 1, verify: is a completion's final answer the gold answer? Where the answer is in a completion
(extraction), whether two answers are equal (math-verify, gold parsed first), and the sandbox that bounds
sympy. Imports nothing else of expo_lite."""
