"""Registry names: DNS-1123 labels, what Kubernetes allows for the registry's namespace."""

from __future__ import annotations

import re

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)


REGISTRY_NAME_RULE = "1-63 characters a-z, 0-9 and '-', starting and ending with a letter or digit"


def is_registry_name(text: str) -> bool:
    """1-63 characters a-z, 0-9 and '-', starting and ending with a letter or digit."""
    return _DNS_LABEL.fullmatch(text) is not None
