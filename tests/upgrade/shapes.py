"""Current and incoming values.yaml shapes for the upgrade tests, and a diff helper."""

from __future__ import annotations

import difflib

from yaml.nodes import MappingNode, ScalarNode

from provisioner.settings.strict_yaml import compose_strict

CURRENT = """\
# Helm values of the demo registry. The admin console edits global.registryBackup.
global:
  timeZone: Europe/Kiev
  registryBackup:
    enabled: true
    schedule: "30 19 * * *"   # unix cron, 5 fields, in global.timeZone
    expiresInDays: 7          # retention; the backup system works in hours (168)
  imageRegistry: registry.example.internal

registry:
  replicas: 2
"""

INCOMING = {
    "same-shape": """\
# Helm values of registry 2.0
global:
  timeZone: UTC
  registryBackup:
    enabled: false
    schedule: "0 2 * * *"
    expiresInDays: 30
  imageRegistry: registry.example.internal

registry:
  replicas: 3
""",
    "key-order-changed": """\
global:
  imageRegistry: registry.example.internal   # moved up in 2.0
  registryBackup:
    # defaults of the new chart
    expiresInDays: 30
    enabled: false
    schedule: '0 3 * * *'
  # the zone of every schedule
  timeZone: UTC
  newFeature: true   # added in 2.0

registry:
  replicas: 3
""",
    "missing-global": """\
# registry 2.0 keeps everything under registry:
registry:
  replicas: 3
  storage: {size: 20Gi}
# end of file
""",
    "registry-backup-missing": """\
global:
  timeZone: UTC
  # the image registry
  imageRegistry: registry.example.internal
registry:
  replicas: 3
""",
    "flow-style": """\
global: {timeZone: UTC, registryBackup: {enabled: true}, imageRegistry: r.example}  # all in one line
registry: {replicas: 3}
""",
    "quoting-styles": """\
global:
  imageRegistry: 'registry.example.internal'
  registryBackup:
    enabled: "true"
    schedule: >-
      0 4 * * *
  timeZone: "UTC"
labels:
  single: 'it''s'
  double: "tab\\there"
  plain: 0777
  literal: |
    line one
    line two
""",
    "anchors-and-aliases": """\
defaults: &defaults
  cpu: 1
  memory: 2Gi
global:
  registryBackup:
    enabled: false
  timeZone: UTC
registry:
  resources:
    <<: *defaults
    cpu: 2
  sidecar: *defaults
  list: &items [a, b]
  again: *items
""",
    "four-space-indent-and-markers": """\
---
global:
    timeZone: UTC
    # other settings
    imageRegistry: r.example
registry:
    hosts:
      - a.example   # first
      - b.example
...
""",
    "empty": "",
    "comments-inside-registry-backup": """\
global:
  timeZone: UTC
  registryBackup:
    # set in the admin console
    enabled: false
    # unix cron
    schedule: "30 19 * * *"   # kept: the same value
    # dropped in 2.0
    retries: 3
  imageRegistry: registry.example.internal
""",
}


def carried_lines(text: str) -> set[int]:
    """0-based line numbers covered by global.timeZone and global.registryBackup (key to value end)."""
    root = compose_strict(text)
    lines: set[int] = set()
    if not isinstance(root, MappingNode):
        return lines
    for key, value in root.value:
        if not (isinstance(key, ScalarNode) and key.value == "global" and isinstance(value, MappingNode)):
            continue
        for k, v in value.value:
            if isinstance(k, ScalarNode) and k.value in ("timeZone", "registryBackup"):
                end = v.end_mark.line if v.end_mark.column > 0 else v.end_mark.line - 1
                lines.update(range(k.start_mark.line, max(end, k.start_mark.line) + 1))
    return lines


def changed_lines(before: str, after: str) -> tuple[set[int], set[int]]:
    """(0-based lines removed from before, lines added in after)."""
    a, b = before.splitlines(), after.splitlines()
    removed: set[int] = set()
    added: set[int] = set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed.update(range(i1, i2))
            added.update(range(j1, j2))
    return removed, added
