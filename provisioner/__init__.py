"""registry-backup-provisioner: registry backup settings in git -> a hardened Jenkins backup job."""

from __future__ import annotations

__version__ = "0.1.0"
