"""IoT credentials from Python: presigning, and a provider whose URLs the sandbox's SigV4-checking
gateway accepts, refuses once the credentials expire (403 with a Date header), and accepts again
after the provider renewed them through Cognito."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

import agora_link
from agora_link import AgoraLinkError, FailureKind, IotCredentialSource, IotEvent


def _upgrade(url: str) -> tuple[int, dict[str, str]]:
    """A WebSocket upgrade to a presigned ws:// URL: the HTTP status and headers."""
    rest = url.removeprefix("ws://")
    authority, path = rest.split("/", 1)
    host, port = authority.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(
            (
                f"GET /{path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                break
            head += chunk
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(lines[0][9:12]), headers


def test_presigning_is_deterministic_and_keeps_the_token_unsigned():
    url = agora_link.presign_mqtt_url(
        "data.iot.us-east-1.amazonaws.com",
        None,
        "TRUSTMETHISIDISFAKE0",
        agora_link.Secret("trustMeThisSecretKeyIsSoFakeAaBbCc00Dd11"),
        agora_link.Secret("to/ken"),
        1498682925000,
    )
    assert str(url) == "***"
    value = url.reveal()
    assert "X-Amz-Signature=26b19e1d5f79e90c742aff838d2679be9ea0dcf4505a3e5d5e7262a5a255f938" in value
    assert value.endswith("&X-Amz-Security-Token=to%2Fken")
    for bad in (
        lambda: agora_link.presign_mqtt_url("broker.example.com", None, "A", agora_link.Secret("S"), None, None),
        lambda: agora_link.presign_mqtt_url("ws://example.com:1", "us-east-1", "A", agora_link.Secret("S"), None, None),
        lambda: agora_link.presign_mqtt_url("x.iot.us-east-1.amazonaws.com", None, "A", agora_link.Secret("S"), None, -5),
    ):
        with pytest.raises(AgoraLinkError) as caught:
            bad()
        assert caught.value.kind == FailureKind.INVALID_ARGUMENT


class _Events(agora_link.IotEventListener):
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


async def test_provider_urls_pass_the_gateway_and_expired_ones_are_renewed(sandbox, client):
    name = f"py-iot-{uuid.uuid4().hex[:8]}"
    account = await client.register_account("py-iot", name)
    login = await client.login_account("py-iot", name, account.token)
    assert login.gy_token.endpoint.startswith("ws://127.0.0.1:")
    events = _Events()
    provider = agora_link.IotProvider(client, login.gy_token, sandbox.url, events)
    assert provider.client_id() == login.gy_token.identity_id
    assert provider.source() == IotCredentialSource.PROOF

    url = await provider.mqtt_url()
    assert _upgrade(url.reveal())[0] == 101

    sandbox._admin("POST", "/_sandbox/iot/expire-sessions")
    status, headers = _upgrade((await provider.mqtt_url()).reveal())
    assert status == 403 and "date" in headers
    provider.refused(headers["date"])
    url = provider.mqtt_url_blocking()
    assert _upgrade(url.reveal())[0] == 101
    assert provider.source() == IotCredentialSource.COGNITO
    # Events arrive on a library thread, never inside the call that caused them.
    for _ in range(500):
        if events.events:
            break
        time.sleep(0.01)
    assert len(events.events) == 1
    assert isinstance(events.events[0], IotEvent.REFRESHED)
    assert events.events[0].source == IotCredentialSource.COGNITO

    with pytest.raises(AgoraLinkError) as caught:
        provider.refused("not a date")
    assert caught.value.kind == FailureKind.INVALID_ARGUMENT
    provider.update_credentials(login.gy_token)
    assert provider.source() == IotCredentialSource.RELOGIN


async def test_a_provider_needs_usable_credentials(client):
    name = f"py-bad-{uuid.uuid4().hex[:8]}"
    account = await client.register_account("py-iot", name)
    login = await client.login_account("py-iot", name, account.token)
    with pytest.raises(AgoraLinkError) as caught:
        agora_link.IotProvider(client, login.gy_token, "http://cognito.example.com", None)
    assert caught.value.kind == FailureKind.CONFIG
    gy = login.gy_token
    gy.identity_id = ""
    with pytest.raises(AgoraLinkError) as caught:
        agora_link.IotProvider(client, gy, None, None)
    assert caught.value.kind == FailureKind.INVALID_ARGUMENT
