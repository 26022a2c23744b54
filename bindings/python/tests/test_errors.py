"""Every error kind, raised as AgoraLinkError with its details, from the real library."""

from __future__ import annotations

import socket

import pytest

import agora_link
from agora_link import AgoraLinkError, FailureKind

from conftest import CLIENT_ID, CLIENT_SECRET, make_config


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _kind(error: AgoraLinkError) -> FailureKind:
    return error.kind


def test_config_errors():
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, CLIENT_ID, agora_link.Secret(CLIENT_SECRET))
    config.set_base_url("http://api.sd-rtn.com")
    with pytest.raises(AgoraLinkError) as caught:
        agora_link.AgoraLinkClient(config)
    assert caught.value.kind == FailureKind.CONFIG
    assert "loopback" in caught.value.reason
    config.set_base_url("https://api.sd-rtn.com")
    config.add_root_certificates_pem("not a certificate")
    with pytest.raises(AgoraLinkError) as caught:
        agora_link.AgoraLinkClient(config)
    assert caught.value.kind == FailureKind.CONFIG


def test_invalid_arguments(client):
    with pytest.raises(AgoraLinkError) as caught:
        client.register_account_blocking("p", "")
    assert caught.value.kind == FailureKind.INVALID_ARGUMENT
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "i", agora_link.Secret("s"))
    with pytest.raises(AgoraLinkError) as caught:
        config.set_request_timeout_ms(0)
    assert caught.value.kind == FailureKind.INVALID_ARGUMENT
    with pytest.raises(AgoraLinkError) as caught:
        config.add_resolve("api.sd-rtn.com", "not-an-address")
    assert caught.value.kind == FailureKind.INVALID_ARGUMENT


async def test_network_error(sandbox):
    config = make_config(sandbox)
    config.set_base_url(_closed_port_url())
    client = agora_link.AgoraLinkClient(config)
    with pytest.raises(AgoraLinkError) as caught:
        await client.list_packages()
    assert caught.value.kind == FailureKind.NETWORK
    assert caught.value.http_status is None and caught.value.server_code is None


async def test_timeout_error(sandbox):
    client = agora_link.AgoraLinkClient(make_config(sandbox, timeout_ms=300))
    await client.access_token()
    # Twice: the first attempt and the spec's retry on the same host.
    sandbox.inject("/getAll", {"kind": "delay", "millis": 3000}, times=2)
    with pytest.raises(AgoraLinkError) as caught:
        await client.list_packages()
    assert caught.value.kind == FailureKind.TIMEOUT


def test_tls_error(sandbox):
    # TLS to a plain-HTTP port: the handshake fails.
    config = make_config(sandbox)
    port = sandbox.url.rsplit(":", 1)[1]
    config.set_base_url("https://api.sd-rtn.com")
    config.add_resolve("api.sd-rtn.com", f"127.0.0.1:{port}")
    client = agora_link.AgoraLinkClient(config)
    with pytest.raises(AgoraLinkError) as caught:
        client.access_token_blocking()
    assert caught.value.kind == FailureKind.TLS


def test_auth_error(sandbox):
    config = make_config(sandbox)
    config.set_password_grant("sandbox-user", agora_link.Secret("wrong-password"))
    with pytest.raises(AgoraLinkError) as caught:
        agora_link.AgoraLinkClient(config).list_packages_blocking()
    error = caught.value
    assert error.kind == FailureKind.AUTH
    assert (error.server_code, error.server_message, error.http_status) == (400, "invalid_grant", 400)
    assert "wrong-password" not in str(error)


async def test_api_error_keeps_code_message_status_and_trace_id(client):
    with pytest.raises(AgoraLinkError) as caught:
        await client.get_package(4242)
    error = caught.value
    assert error.kind == FailureKind.API
    assert error.server_code == 999999 and error.http_status == 200
    assert "4242" in error.server_message
    assert len(error.trace_id) == 36


async def test_api_error_with_http_201(client, account_name):
    with pytest.raises(AgoraLinkError) as caught:
        await client.login_account("p", account_name, agora_link.Secret("token"))
    assert (caught.value.server_code, caught.value.http_status) == (999999, 201)
    assert caught.value.server_message.startswith("The user not exists.")


async def test_a_proxy_error_page_is_a_network_error(sandbox, client):
    sandbox.inject("/getAll", {"kind": "respond", "status": 502, "body": "<html>bad gateway</html>"}, times=2)
    with pytest.raises(AgoraLinkError) as caught:
        await client.list_packages()
    assert caught.value.kind == FailureKind.NETWORK and caught.value.http_status == 502
    assert "bad gateway" in caught.value.reason and "proxy" in caught.value.reason
    assert [a.failure for a in caught.value.attempts] == [agora_link.HostFailure.SERVER_ERROR] * 2


async def test_decode_error(sandbox, client):
    sandbox.inject("/getAll", {"kind": "respond", "status": 200, "body": "<html>portal</html>"}, times=2)
    with pytest.raises(AgoraLinkError) as caught:
        await client.list_packages()
    assert caught.value.kind == FailureKind.DECODE and caught.value.http_status == 200
    assert "portal" in caught.value.reason


def test_shutdown_is_final_and_reported(sandbox):
    # In a child process: shutting the runtime down is final for the whole process.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import agora_link
        config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "sandbox-client-id",
                                            agora_link.Secret("sandbox-client-secret"))
        config.set_base_url({sandbox.url!r})
        client = agora_link.AgoraLinkClient(config)
        assert len(client.list_packages_blocking()) == 5
        assert agora_link.shutdown_runtime(2000) is True
        assert agora_link.shutdown_runtime(2000) is False
        try:
            client.list_packages_blocking()
        except agora_link.AgoraLinkError as error:
            assert error.kind == agora_link.FailureKind.SHUTDOWN, error
            print("shutdown reported")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "shutdown reported"
