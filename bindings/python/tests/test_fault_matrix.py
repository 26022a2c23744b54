"""The fault matrix through the Python binding (docs/testing.md, "The client fault matrix").

A sandbox with its fault proxy (``--fault-proxy``) breaks the connection of one purchase
(``open``) or one ``register`` at every byte offset of the request and of the response, with a
garbage TLS record and with a reset, through the blocking calls (the binding's own main-thread
path) and the async ones. At each point: the sandbox received the request whole at most once; a
success was received exactly once; an error after the server had the request never says
"nothing was sent"; no call outlives its deadline by more than a second.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import agora_link
from agora_link import AgoraLinkError, OpenPackageRequest

from conftest import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, Sandbox, running_sandbox

DEADLINE_MS = 900
# Beyond the longest request and response of these calls (the offsets past the end strike
# nothing: the call must then simply succeed).
REQUEST_OFFSETS = range(0, 560)
RESPONSE_OFFSETS = range(0, 240)


@pytest.fixture(scope="module")
def faulty():
    yield from running_sandbox("--fault-proxy")


def _client(box: Sandbox) -> agora_link.AgoraLinkClient:
    proxy = box._admin("GET", "/_sandbox/fault-proxy")
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, CLIENT_ID, agora_link.Secret(CLIENT_SECRET))
    config.set_password_grant(USERNAME, agora_link.Secret(PASSWORD))
    # Both primaries of the plan resolve to the proxy: a wrong failover reaches the sandbox twice.
    config.add_resolve("api.sd-rtn.com", proxy["address"])
    config.add_resolve("api.agora.io", proxy["address"])
    config.set_resolve_overrides_only(True)
    config.add_root_certificates_pem(proxy["caPem"])
    config.set_no_proxy("*")
    config.set_request_timeout_ms(400)
    # Every call on a connection of its own, where the strike lands.
    config.set_pool_idle_timeout_ms(1)
    settings = agora_link.default_failover_settings()
    settings.backoff_ms = [10]
    settings.call_deadline_ms = DEADLINE_MS
    settings.cooldown_ms = 0
    settings.regional = agora_link.RegionalStep.OFF()
    config.set_failover(settings)
    return agora_link.AgoraLinkClient(config)


def _delivered(box: Sandbox, suffix: str) -> int:
    by_path = box._admin("GET", "/_sandbox/fault-proxy")["deliveredByPath"]
    return sum(count for path, count in by_path.items() if path.endswith(suffix))


def _explore(box: Sandbox, call, suffix: str, kinds=("garbage", "reset")) -> tuple[int, int, list[str]]:
    """Runs `call(n)` once per point; returns (points, failed calls, violations)."""
    points = [(kind, "request", k) for kind in kinds for k in REQUEST_OFFSETS]
    points += [(kind, "response", k) for kind in kinds for k in RESPONSE_OFFSETS]
    violations = []
    failed = 0
    for n, (kind, point, offset) in enumerate(points):
        before = _delivered(box, suffix)
        box._admin("POST", "/_sandbox/fault-proxy/arm", {"point": point, "offset": offset, "kind": kind})
        started = time.monotonic()
        error = None
        try:
            call(n)
        except AgoraLinkError as e:
            error = e
            failed += 1
        elapsed_ms = (time.monotonic() - started) * 1000
        time.sleep(0.01)
        delivered = _delivered(box, suffix) - before
        where = f"{kind}@{point}({offset})"
        if delivered > 1:
            violations.append(f"{where}: delivered {delivered} times ({error})")
        if error is None and delivered != 1:
            violations.append(f"{where}: succeeded, delivered {delivered} times")
        if error is not None and delivered > 0 and "nothing was sent" in str(error):
            violations.append(f"{where}: the server had it, the error says: {error}")
        if elapsed_ms > DEADLINE_MS + 1000:
            violations.append(f"{where}: took {elapsed_ms:.0f} ms")
    return len(points), failed, violations


def _open_request(n: int) -> OpenPackageRequest:
    return OpenPackageRequest(
        app_id="py-matrix", user_id="py-matrix-user", device_id=f"d-{n:06d}",
        payment_order_id=f"p-{uuid.uuid4().hex}", package_id=1, order_number=1,
    )


def test_a_purchase_reaches_the_server_at_most_once_at_every_point_blocking(faulty):
    client = _client(faulty)
    client.access_token_blocking()
    points, failed, violations = _explore(
        faulty, lambda n: client.open_package_blocking(_open_request(n)), "/open")
    assert points == 2 * (len(REQUEST_OFFSETS) + len(RESPONSE_OFFSETS))
    # The strikes landed (most points break the purchase), and offsets past the end did not.
    assert points // 2 < failed < points, failed
    assert violations == [], f"{len(violations)} of {points} points: {violations[:5]}"


def test_register_reaches_the_server_at_most_once_at_every_point_async(faulty):
    client = _client(faulty)
    client.access_token_blocking()
    loop = asyncio.new_event_loop()
    try:
        def register(n: int) -> None:
            loop.run_until_complete(client.register_account("py-matrix", f"a-{uuid.uuid4().hex[:12]}"))

        points, failed, violations = _explore(faulty, register, "/register", kinds=("garbage",))
        assert 0 < failed < points, failed
    finally:
        loop.close()
    assert violations == [], f"{len(violations)} of {points} points: {violations[:5]}"


def test_the_arm_endpoint_refuses_a_bad_strike(faulty):
    with pytest.raises(Exception) as caught:
        faulty._admin("POST", "/_sandbox/fault-proxy/arm", {"point": "nowhere", "kind": "reset"})
    assert "400" in str(caught.value)
