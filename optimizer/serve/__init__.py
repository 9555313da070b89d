"""The real-time decision service: rank, reward, activate over HTTP, logged to the store.

Library entry points behind the ``serve``, ``keys`` and ``export`` commands.
"""

from optimizer.serve.settings import ServeSettings

__all__ = ["ServeSettings"]
