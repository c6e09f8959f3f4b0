"""Evaluation of user-supplied expressions (jq ignore rules, jq health rules) in worker
processes that are killed when they run past their time or memory limit.

Everything else of a comparison is linear in its input, which the renderer bounds; jq is
a programming language, so a rule can loop forever (`.data | repeat(.)`). Apps without jq
rules are evaluated in-process, as before; only work that involves jq goes to a worker.
"""

from tether.sandbox.evaluator import Evaluator
from tether.sandbox.pool import EvaluationLimits, EvaluationTimeout, WorkerPool

__all__ = ["EvaluationLimits", "EvaluationTimeout", "Evaluator", "WorkerPool"]
