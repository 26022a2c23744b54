"""Async completions reach the event loop through its queue in the library (a socket the loop
watches), never through a ``ctypes`` callback on a library thread: calls in flight, cancelled
calls, many loops at once and one after another, and the fallback to UniFFI's callback when
every queue is taken. Every wait is bounded."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import stat
import tempfile
import threading
import weakref
from typing import Callable

import pytest

import agora_link
from agora_link import _native_glue

from conftest import make_config


@pytest.fixture
def fallbacks(monkeypatch):
    """Counts the calls that went through UniFFI's own callback (and still lets them run)."""
    counted = {"calls": 0, "threads": set()}
    original = _native_glue._UNIFFI_RUST_CALL_ASYNC

    async def counting(*args):
        counted["calls"] += 1
        return await original(*args)

    monkeypatch.setattr(_native_glue, "_UNIFFI_RUST_CALL_ASYNC", counting)
    return counted


async def test_calls_complete_through_the_loops_queue(client, fallbacks):
    # The continuation handed to the library is its own native function: no Python callback
    # exists for a library thread to run.
    assert _native_glue._WAKE is not None
    results = await asyncio.wait_for(
        asyncio.gather(*(client.list_packages() for _ in range(200))), timeout=60)
    assert [len(r) for r in results] == [5] * 200
    assert fallbacks["calls"] == 0
    queue = _native_glue._queue_of(asyncio.get_running_loop())
    assert isinstance(queue, _native_glue._WakeQueue)
    assert queue.futures == {}


async def test_cancelled_calls_leave_nothing_behind(sandbox, client, fallbacks):
    await client.access_token()
    sandbox.inject("/getAll", {"kind": "delay", "millis": 300}, times=40)
    tasks = [asyncio.ensure_future(client.list_packages()) for _ in range(40)]
    await asyncio.sleep(0.05)
    for task in tasks[::2]:
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30)
    cancelled = [r for r in results if isinstance(r, asyncio.CancelledError)]
    assert len(cancelled) == 20
    assert [len(r) for r in results if not isinstance(r, BaseException)] == [5] * 20
    await asyncio.sleep(0.1)  # late notices of the cancelled calls
    assert _native_glue._queue_of(asyncio.get_running_loop()).futures == {}
    assert fallbacks["calls"] == 0
    # The loop still wakes for new calls.
    assert len(await asyncio.wait_for(client.list_packages(), timeout=10)) == 5


def _in_threads(count: int, target: Callable[[], None]) -> None:
    """Runs ``target`` on ``count`` threads at once and waits for them (90 s each at most)."""
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)


def test_more_loops_than_queues_fall_back_and_finished_loops_free_theirs(sandbox, fallbacks):
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    loops = 80  # more than the library's 64 queues, all alive at once
    barrier = threading.Barrier(loops, timeout=60)
    done = threading.Barrier(loops, timeout=60)
    results: list = []

    def run_one() -> None:
        async def call() -> int:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, barrier.wait)
            count = len(await asyncio.wait_for(client.list_packages(), timeout=30))
            await loop.run_in_executor(None, done.wait)  # every loop alive until all are done
            return count

        results.append(asyncio.run(call()))

    _in_threads(loops, run_one)
    assert results == [5] * loops
    assert fallbacks["calls"] >= loops - 64
    # One loop after another: each finished loop releases its queue, so none falls back.
    gc.collect()
    before = fallbacks["calls"]
    for _ in range(200):
        assert len(asyncio.run(asyncio.wait_for(client.list_packages(), timeout=10))) == 5
    gc.collect()
    assert fallbacks["calls"] == before
    # Loops closed but kept referenced by the application: their queues are taken back when
    # the library runs out, so none falls back either.
    kept = []
    for _ in range(80):
        loop = asyncio.new_event_loop()
        assert len(loop.run_until_complete(asyncio.wait_for(client.list_packages(), 10))) == 5
        loop.close()
        kept.append(loop)
    assert fallbacks["calls"] == before


def test_blocking_calls_and_a_loop_on_another_thread_keep_working(sandbox, fallbacks):
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    assert len(client.list_packages_blocking()) == 5
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        # A coroutine scheduled on a loop that runs on another thread.
        future = asyncio.run_coroutine_threadsafe(client.list_packages(), loop)
        assert len(future.result(timeout=30)) == 5
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _in_a_forked_child(body: Callable[[], bool]) -> None:
    """Runs ``body`` in a forked child (60 s at most) and asserts that it returned true."""
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)
        try:
            ok = body()
        except BaseException:  # noqa: BLE001 - the exit status reports it
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_a_forked_child_never_releases_a_queue_of_its_own_for_a_parents_loop(sandbox):
    """A loop of the parent's that a child collects must not release the child's queue that
    happens to have the same id (the library forgets the parent's queues in a child)."""
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    parents = [asyncio.new_event_loop()]  # the only reference, so that the child can drop it
    assert len(parents[0].run_until_complete(client.list_packages())) == 5
    parents_id = _native_glue._queue_of(parents[0]).id

    def child() -> bool:
        # Loops of the child's own until one holds the id the parent's loop had.
        loops = []
        while True:
            loop = asyncio.new_event_loop()
            loops.append(loop)
            assert len(loop.run_until_complete(client.list_packages())) == 5
            if _native_glue._queue_of(loop).id == parents_id or len(loops) > 64:
                break
        assert _native_glue._queue_of(loops[-1]).id == parents_id
        # The parent's loop goes away in the child (its finalizer runs here).
        gone = weakref.ref(parents[0])
        parents.clear()
        gc.collect()
        assert gone() is None
        return all(
            len(loop.run_until_complete(asyncio.wait_for(client.list_packages(), 10))) == 5
            for loop in loops)

    _in_a_forked_child(child)
    assert len(parents[0].run_until_complete(client.list_packages())) == 5
    parents[0].close()


def test_a_forked_child_keeps_its_own_files_at_the_parents_socket_numbers(sandbox):
    """A child that closed the inherited wake socket (as daemonizing code does) and opened a file
    at the same descriptor number keeps that file: the library closes only what is still its
    own inherited socket."""
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    loop = asyncio.new_event_loop()
    assert len(loop.run_until_complete(client.list_packages())) == 5
    inherited = _native_glue._queue_of(loop).fd
    with tempfile.TemporaryFile() as scratch:

        def child() -> bool:
            os.close(inherited)
            mine = os.dup(scratch.fileno())  # the lowest free number: the socket's
            assert mine == inherited
            fresh = asyncio.new_event_loop()
            assert len(fresh.run_until_complete(asyncio.wait_for(client.list_packages(), 10))) == 5
            return stat.S_ISREG(os.fstat(mine).st_mode)

        _in_a_forked_child(child)
    assert len(loop.run_until_complete(client.list_packages())) == 5
    loop.close()


@pytest.fixture
def frees(monkeypatch):
    """Counts the Rust futures freed (list and record results come back in a RustBuffer)."""
    lib = _native_glue._gen._UniffiLib
    original = lib.ffi_agora_link_rust_future_free_rust_buffer
    counted = {"frees": 0}

    def counting(handle):
        counted["frees"] += 1
        return original(handle)

    monkeypatch.setattr(lib, "ffi_agora_link_rust_future_free_rust_buffer", counting)
    return counted


def test_a_coroutine_driven_without_a_loop_frees_its_rust_future(client, frees):
    coroutine = client.list_packages()
    with pytest.raises(RuntimeError):
        coroutine.send(None)  # no running loop (as under trio, or driven by hand)
    assert frees["frees"] == 1


def test_a_loop_dropped_with_calls_in_flight_is_collected_and_frees_them(sandbox, client, frees):
    client.access_token_blocking()
    before = frees["frees"]
    sandbox.inject("/getAll", {"kind": "delay", "millis": 300}, times=30)
    gone = []
    for _ in range(10):
        loop = asyncio.new_event_loop()
        tasks = [loop.create_task(client.list_packages()) for _ in range(3)]
        loop.run_until_complete(asyncio.sleep(0.02))
        loop.close()  # with its three calls in flight
        gone.append(weakref.ref(loop))
        del loop, tasks
    gc.collect()
    assert [ref() for ref in gone] == [None] * 10
    assert frees["frees"] - before == 30


def test_claims_racing_a_sweep_of_closed_loops_all_complete(sandbox, fallbacks):
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    kept = []
    for _ in range(1000):  # closed loops the application keeps: the sweep has much to walk
        loop = asyncio.new_event_loop()
        assert len(loop.run_until_complete(client.list_packages())) == 5
        loop.close()
        kept.append(loop)
    threads = 40
    barrier = threading.Barrier(threads, timeout=60)
    results: list = []

    def run_one() -> None:
        barrier.wait()
        try:
            results.append(len(asyncio.run(asyncio.wait_for(client.list_packages(), 30))))
        except BaseException as error:  # noqa: BLE001 - reported below
            results.append(error)

    _in_threads(threads, run_one)
    assert results == [5] * threads
