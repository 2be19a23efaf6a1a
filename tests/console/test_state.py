"""The console's caches: a read hits the cache until git or the store changes."""

from __future__ import annotations

from datetime import timedelta

from provisioner.console.state import StoreFacts
from tests.helpers.backups import make_backup
from tests.helpers.console import NOW, REGISTRY, Site, site_console
from tests.helpers.gitrepo import commit


def test_store_facts_are_reloaded_when_a_backup_arrives(site: Site) -> None:
    facts = StoreFacts(site.store)
    console = site_console(site, facts=facts)
    source = console.registries[REGISTRY]
    assert not facts.fresh(source)
    first = facts.facts(source)
    assert facts.fresh(source) and facts.facts(source) is first
    assert first.kept is not None and len(first.kept) == 2
    make_backup(site.store, site.tmp / "data", NOW - timedelta(hours=1), registry=REGISTRY)
    assert not facts.fresh(source)
    second = facts.facts(source)
    assert second.kept is not None and len(second.kept) == 3
    assert second.last is not None and second.last.at == NOW - timedelta(hours=1)


def test_settings_follow_the_branch_head(site: Site) -> None:
    console = site_console(site)
    source = console.registries[REGISTRY]
    before = console.settings.committed(source)
    assert console.settings.committed(source) is before
    head = commit(site.work, {"deploy-templates/values.yaml": "global:\n  timeZone: UTC\n"}, message="zone")
    after = console.settings.committed(source)
    assert after.head == head and after.result.settings is not None
    assert after.result.settings.time_zone == "UTC" and after.values_commit == head
