"""Generate: the creatives a campaign starts from.

Today: the seed creatives written in the campaign file. LLM generation per segment and prompt
variant plugs in here (issue 3).
"""

from optimizer.generate.seed import seed_creatives

__all__ = ["seed_creatives"]
