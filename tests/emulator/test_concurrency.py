"""Many concurrent clients: no lost updates, no emulator errors, consistent counters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jenkins

from tests.jenkins_emulator import JenkinsEmulator

from .conftest import PASSWORD, TOKEN, USER, pipeline

THREADS = 16
JOBS_PER_THREAD = 12


def test_many_clients_in_parallel(emu: JenkinsEmulator) -> None:
    def work(worker: int) -> int:
        client = jenkins.Jenkins(emu.url, USER, PASSWORD if worker % 2 else TOKEN, timeout=30)
        if worker % 4 == 0:
            client.create_folder(f"folder-{worker}")
        prefix = f"folder-{worker}/" if worker % 4 == 0 else ""
        for n in range(JOBS_PER_THREAD):
            name = f"{prefix}job-{worker}-{n}"
            client.create_job(name, pipeline())
            client.reconfig_job(name, pipeline("TZ=UTC\n0 3 * * *"))
            assert "0 3 * * *" in client.get_job_config(name)
            client.disable_job(name)
            client.get_all_jobs()
        return worker

    with ThreadPoolExecutor(THREADS) as pool:
        assert sorted(pool.map(work, range(THREADS))) == list(range(THREADS))
    assert len(emu.job_names()) == THREADS * JOBS_PER_THREAD
    assert all(emu.is_disabled(name) for name in emu.job_names())
    assert all(r.status in (200, 302, 404) for r in emu.requests)
    posts = THREADS * JOBS_PER_THREAD * 3 + THREADS // 4
    assert emu.count("POST") == posts
    assert emu.stats()["byMethod"]["POST"] == posts


def test_one_client_shared_by_workers(emu: JenkinsEmulator) -> None:
    """Jenkins Job Builder shares one python-jenkins client between its --workers threads."""
    client = jenkins.Jenkins(emu.url, USER, PASSWORD, timeout=30)

    def work(n: int) -> None:
        client.upsert_job(f"shared-{n}", pipeline())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(64)))
    assert len(emu.job_names()) == 64
    assert all(r.status != 403 for r in emu.requests)
