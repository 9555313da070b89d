"""Edit one field of a loaded campaign file, for the invalid-config tables."""

from __future__ import annotations

import copy
from typing import Any

DELETE = object()


def mutate(data: dict, path: tuple, value: Any) -> dict:
    """A deep copy of ``data`` with the field at ``path`` set to ``value`` (or deleted)."""
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data
