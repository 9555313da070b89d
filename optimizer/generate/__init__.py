"""Generate: the creatives a campaign starts from.

Seed creatives come from the campaign file (``seed.py``); an LLM writes candidates per
segment and prompt variant (``pipeline.py``) through a transformers or OpenAI-compatible
backend (``backends.py``, ``model.py``); the local model samples with ``sampler.py`` (shared
prompt prefixes, per-row seeds) in the answer's form (``forms.py``: headline, then body).
"""

from optimizer.generate.seed import seed_creatives

__all__ = ["seed_creatives"]
