"""Cancellation, concurrent calls from threads and from asyncio tasks, log forwarding."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import agora_link
from agora_link import AgoraLinkError, FailureKind, OpenPackageRequest

from conftest import make_config


async def test_cancelling_a_call_leaves_the_client_usable(sandbox, client):
    await client.access_token()
    sandbox.inject("/getAll", {"kind": "delay", "millis": 1500})
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.list_packages(), timeout=0.2)
    assert len(await client.list_packages()) == 5


async def test_a_cancelled_purchase_is_sent_once_and_never_repeated(sandbox, client, account_name):
    account = await client.register_account("py", account_name)
    before = len(sandbox.orders())
    sandbox.inject("/open", {"kind": "delay", "millis": 500})
    task = asyncio.ensure_future(
        client.open_package(
            OpenPackageRequest(app_id="a", user_id=account.user_id, device_id="d",
                               payment_order_id=account_name, package_id=1, order_number=1)
        )
    )
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.8)
    # The request was already sent: it completes on the server, exactly once.
    assert len(sandbox.orders()) == before + 1


async def test_concurrent_asyncio_logins_share_one_token(sandbox, account_name):
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    account = await client.register_account("py", account_name)
    tokens_before = sandbox.token_requests()
    logins = await asyncio.gather(
        *(client.login_account("py", account_name, account.token) for _ in range(200))
    )
    assert len({login.ls_token.access_token.reveal() for login in logins}) == 200
    assert sandbox.token_requests() == tokens_before, "the token was already cached"
    fresh = agora_link.AgoraLinkClient(make_config(sandbox))
    await asyncio.gather(*(fresh.list_packages() for _ in range(100)))
    assert sandbox.token_requests() == tokens_before + 1, "100 concurrent calls, one token request"


def test_concurrent_blocking_calls_from_threads(sandbox, account_name):
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    tokens_before = sandbox.token_requests()

    def work(index: int) -> str:
        name = f"{account_name}-{index}"
        account = client.register_account_blocking("py-threads", name)
        login = client.login_account_blocking("py-threads", name, account.token)
        return login.gy_token.identity_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(work, range(64)))
    assert len(set(ids)) == 64
    assert sandbox.token_requests() == tokens_before + 1


class Collector(agora_link.LogListener):
    def __init__(self, client):
        self.records = []
        self.blocking_results = []
        self.client = client
        self.lock = threading.Lock()

    def log(self, record):
        with self.lock:
            self.records.append(record)
        if "agora link response" in record.message and not self.blocking_results:
            # Runs on a library thread: a blocking call here must refuse, not deadlock.
            try:
                self.client.list_packages_blocking()
                self.blocking_results.append("returned")
            except AgoraLinkError as error:
                self.blocking_results.append(error.kind)


async def test_log_records_reach_the_host_without_secrets(sandbox, account_name):
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    collector = Collector(client)
    agora_link.set_log_listener(collector, agora_link.LogLevel.DEBUG)
    try:
        account = await client.register_account("py", account_name)
        login = await client.login_account("py", account_name, account.token)
    finally:
        agora_link.clear_log_listener()
    messages = [r.message for r in collector.records]
    assert any("agora link response" in m and "endpoint=login" in m for m in messages), messages
    assert all(r.target.startswith("agora_link") for r in collector.records)
    assert {r.level for r in collector.records} <= {agora_link.LogLevel.DEBUG, agora_link.LogLevel.INFO}
    text = "\n".join(messages)
    for secret in [account.token.reveal(), login.gy_token.secret_key.reveal(),
                   login.ls_token.access_token.reveal(), "sandbox-password", "sandbox-client-secret"]:
        assert secret not in text
    assert collector.blocking_results == [FailureKind.WOULD_DEADLOCK]
    count = len(collector.records)
    await client.list_packages()
    assert len(collector.records) == count, "no records after clear_log_listener"
