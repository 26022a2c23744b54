"""Ctrl-C in blocking calls, ``with``/``close()`` and the bridge into :mod:`logging`."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import agora_link
from agora_link import _native_glue

from conftest import ROOT, make_config, run_mypy

# A child process that makes one blocking call on its main thread while the sandbox holds the
# answer for 12 s, catches KeyboardInterrupt and reports when it caught it (CLOCK_MONOTONIC is
# shared between processes) and how many connections it still has to the sandbox.
_CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {tests!r})
    import agora_link
    from conftest import Sandbox, make_config

    def established_to(port):
        # This process's sockets (inodes from /proc/self/fd) connected to 127.0.0.1:<port>.
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink("/proc/self/fd/" + fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        count = 0
        with open("/proc/self/net/tcp") as table:
            for line in list(table)[1:]:
                fields = line.split()
                remote, state, inode = fields[2], fields[3], fields[9]
                if state == "01" and inode in inodes and int(remote.split(":")[1], 16) == port:
                    count += 1
        return count

    sandbox = Sandbox({url!r}, None)
    port = int({url!r}.rsplit(":", 1)[1])
    client = agora_link.AgoraLinkClient(make_config(sandbox, timeout_ms=60_000))
    client.access_token_blocking()
    print("ready", flush=True)
    try:
        {call}
        print("finished", flush=True)
    except KeyboardInterrupt:
        caught = time.monotonic()
        deadline = caught + 5
        while established_to(port) and time.monotonic() < deadline:
            time.sleep(0.01)
        print("interrupted", caught, established_to(port), flush=True)
        time.sleep({linger})  # a purchase goes on in the background while the process lives
    """
)


def _interrupt(sandbox, path_suffix: str, call: str, tmp_path: pathlib.Path, delay_ms=12_000, linger=0):
    sandbox.inject(path_suffix, {"kind": "delay", "millis": delay_ms})
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(tests=str(ROOT / "bindings" / "python" / "tests"), url=sandbox.url, call=call,
                                   linger=linger))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # the call is now waiting on the sandbox
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    words = out.split()
    assert words[:1] == ["interrupted"], out
    latency_ms = (float(words[1]) - sent) * 1000
    print(f"Ctrl-C to KeyboardInterrupt: {latency_ms:.1f} ms")
    return latency_ms, int(words[2])


def test_ctrl_c_interrupts_a_blocking_read_and_closes_its_connection(sandbox, tmp_path):
    latency_ms, connections = _interrupt(sandbox, "/getAll", "client.list_packages_blocking()", tmp_path)
    # Without the fix the call returns only after the 12 s delay (KeyboardInterrupt after it).
    assert latency_ms < 2_000
    assert connections == 0, "the aborted request's connection is still open"


def test_ctrl_c_ends_the_wait_for_a_purchase_which_completes_once(sandbox, client, account_name, tmp_path):
    account = client.register_account_blocking("py-project", account_name)
    before = len(sandbox.orders())
    call = (f"client.open_package_blocking(agora_link.OpenPackageRequest(app_id='a', user_id={account.user_id!r}, "
            f"device_id='d', payment_order_id='pay-{account_name}', package_id=1, order_number=1))")
    latency_ms, _ = _interrupt(sandbox, "/open", call, tmp_path, delay_ms=3_000, linger=6)
    assert latency_ms < 2_000
    # The purchase was sent once and is not cut off: the sandbox records it after its delay.
    deadline = time.monotonic() + 20
    while len(sandbox.orders()) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(sandbox.orders()) == before + 1


def test_blocking_calls_on_other_threads_and_errors_are_unchanged(client):
    results = []
    worker = threading.Thread(target=lambda: results.append(client.list_packages_blocking()))
    worker.start()
    worker.join(30)
    assert results and results[0] == client.list_packages_blocking()
    with pytest.raises(agora_link.ApiError):
        client.get_package_blocking(-1)
    assert agora_link.AgoraLinkClient.list_packages_blocking.__doc__


def test_with_closes_the_client(sandbox):
    with agora_link.AgoraLinkClient(make_config(sandbox)) as client:
        assert not client.closed
        assert client.access_token_blocking().access_token.reveal()
        requests = client.stats().requests
    assert client.closed
    with pytest.raises(agora_link.ShutdownError, match="closed"):
        client.list_packages_blocking()
    assert client.stats().requests == requests  # the counters stay readable
    client.close()  # idempotent


async def test_async_with_closes_the_client(sandbox):
    async with agora_link.AgoraLinkClient(make_config(sandbox)) as client:
        await client.access_token()
    with pytest.raises(agora_link.ShutdownError):
        await client.list_packages()


def test_records_reach_the_agora_link_logger_at_its_level(sandbox, caplog):
    logger = logging.getLogger("agora_link")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    calls = []
    original = _native_glue._LoggingBridge.log

    def counting(self, record):
        calls.append(record.level)
        original(self, record)

    _native_glue._LoggingBridge.log = counting
    _native_glue._install_logging()  # as at import (another test may have replaced the bridge)
    try:
        # Disabled (the default WARNING level): no record at all crosses into Python.
        logger.setLevel(logging.WARNING)
        agora_link.AgoraLinkClient(make_config(sandbox)).list_packages_blocking()
        assert not [level for level in calls if level.name in ("DEBUG", "TRACE", "INFO")]
        # setLevel is followed by the library, without any other call.
        with caplog.at_level(logging.DEBUG, logger="agora_link"):
            agora_link.AgoraLinkClient(make_config(sandbox)).list_packages_blocking()
        ours = [r for r in caplog.records if r.name.startswith("agora_link")]
        assert ours, "no record reached the agora_link logger"
        assert all(r.levelno >= logging.DEBUG for r in ours)
        assert all(agora_link.Secret is not None and "sandbox-client-secret" not in r.getMessage() for r in ours)
        # logging.disable stops them at the source too.
        calls.clear()
        logger.setLevel(logging.DEBUG)
        logging.disable(logging.CRITICAL)  # (caplog.at_level would undo this)
        try:
            agora_link.AgoraLinkClient(make_config(sandbox)).list_packages_blocking()
        finally:
            logging.disable(logging.NOTSET)
        assert calls == []
        # A child logger set lower than agora_link is honoured too.
        logger.setLevel(logging.WARNING)
        logging.getLogger("agora_link.auth").setLevel(logging.DEBUG)
        try:
            agora_link.AgoraLinkClient(make_config(sandbox)).list_packages_blocking()
        finally:
            logging.getLogger("agora_link.auth").setLevel(logging.NOTSET)
        assert calls, "agora_link.auth at DEBUG got nothing"
    finally:
        _native_glue._LoggingBridge.log = original
        logger.setLevel(logging.NOTSET)


def test_the_with_pattern_passes_mypy(tmp_path: pathlib.Path):
    result = run_mypy(tmp_path, """
        import agora_link

        def run(config: agora_link.AgoraLinkConfig) -> bool:
            with agora_link.AgoraLinkClient(config) as client:
                client.list_packages_blocking()
            client.close()
            return client.closed

        async def run_async(config: agora_link.AgoraLinkConfig) -> None:
            async with agora_link.AgoraLinkClient(config) as client:
                await client.list_packages()
    """)
    assert result.returncode == 0, result.stdout + result.stderr


def test_logging_configuration_leaves_an_own_listener_alone(sandbox):
    got = []

    class Own(agora_link.LogListener):
        def log(self, record):
            got.append(record.level)

    agora_link.set_log_listener(Own(), agora_link.LogLevel.DEBUG)
    try:
        logging.getLogger("some.other.library").setLevel(logging.INFO)  # clears logging's caches
        agora_link.AgoraLinkClient(make_config(sandbox)).list_packages_blocking()
        assert agora_link.LogLevel.DEBUG in got
    finally:
        logging.getLogger("some.other.library").setLevel(logging.NOTSET)
        assert agora_link.use_python_logging()
