"""Filter: relevance, near-duplicates, diversity, safety and ad policy, format.

Every rejection carries its filter, reason and score (``verdict.py``).
"""

from optimizer.filter.verdict import Rejection, Verdict

__all__ = ["Rejection", "Verdict"]
