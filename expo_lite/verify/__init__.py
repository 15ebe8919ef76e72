"""Layer 1, verify: is a completion's final answer the gold answer? Every answer format behind one interface
(formats/: math, multiple choice, short text, countdown, a user's own check), the math conventions (extraction:
where the answer is; answers: whether two are equal, by math-verify with gold parsed first), and the sandbox
that bounds sympy and users' checks. Imports nothing else of expo_lite."""
