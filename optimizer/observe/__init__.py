"""Observe: rewards for decisions, from the simulator (or, later, an ad server's logs)."""

from optimizer.observe.simulated import respond
from optimizer.observe.tally import Tally

__all__ = ["respond", "Tally"]
