"""fork(): the patterns of gunicorn --preload, Celery and multiprocessing (fork start method).

A parent that used the SDK forks workers. Each worker must be able to use the client it
inherited (it rebuilds its connections on first use) and to make new ones, with blocking and
asyncio calls; the parent must keep working while and after they run. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal

import pytest

import agora_link

from conftest import make_config

# Set in the parent before forking, inherited by the workers.
_inherited: agora_link.AgoraLinkClient | None = None
_url: str | None = None


def _worker_inherited(i: int) -> tuple[int, int]:
    assert _inherited is not None
    packages = _inherited.list_packages_blocking()
    return os.getpid(), len(packages)


def _worker_new_client(i: int) -> tuple[int, int]:
    from conftest import Sandbox

    client = agora_link.AgoraLinkClient(make_config(Sandbox(_url, None)))
    return os.getpid(), len(client.list_packages_blocking())


def _worker_asyncio(i: int) -> tuple[int, int]:
    assert _inherited is not None

    async def run() -> int:
        results = await asyncio.gather(*(_inherited.list_packages() for _ in range(4)))
        return sum(len(r) for r in results)

    return os.getpid(), asyncio.run(run())


@pytest.fixture
def preloaded(sandbox):
    """A client that the parent has used, as gunicorn --preload leaves it."""
    global _inherited, _url
    _url = sandbox.url
    _inherited = agora_link.AgoraLinkClient(make_config(sandbox))
    assert len(_inherited.list_packages_blocking()) == 5
    yield _inherited
    _inherited = None


@pytest.mark.parametrize(
    "worker, expected",
    [(_worker_inherited, 5), (_worker_new_client, 5), (_worker_asyncio, 20)],
    ids=["inherited client", "new client", "asyncio on the inherited client"],
)
def test_a_fork_pool_works_and_the_parent_keeps_working(preloaded, worker, expected):
    context = multiprocessing.get_context("fork")
    with context.Pool(3) as pool:
        pending = pool.map_async(worker, range(12))
        # The parent keeps calling while its workers run.
        for _ in range(5):
            assert len(preloaded.list_packages_blocking()) == 5
        results = pending.get(timeout=60)
    assert [count for _, count in results] == [expected] * 12
    assert len({pid for pid, _ in results}) >= 1
    assert os.getpid() not in {pid for pid, _ in results}
    # After the pool: the parent's client, blocking and async, and a new client.
    assert len(preloaded.list_packages_blocking()) == 5
    assert len(asyncio.run(preloaded.list_packages())) == 5


def test_a_forked_child_that_exits_at_once_does_not_disturb_the_parent(preloaded):
    for _ in range(5):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert len(preloaded.list_packages_blocking()) == 5


def test_a_raw_fork_child_reuses_the_client_and_frees_it(preloaded):
    pid = os.fork()
    if pid == 0:
        signal.alarm(30)
        try:
            ok = len(preloaded.list_packages_blocking()) == 5
            ok = ok and len(asyncio.run(preloaded.list_packages())) == 5
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert len(preloaded.list_packages_blocking()) == 5
