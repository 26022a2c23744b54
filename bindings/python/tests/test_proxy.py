"""Proxies from Python: loopback never goes through one even when the environment names one;
an explicit proxy that is down is named in the error without its credentials (the host is not
blamed); an unusable proxy URL is a CONFIG error that does not echo it."""

from __future__ import annotations

import os
import socket

import pytest

import agora_link
from agora_link import AgoraLinkError, FailureKind, HostFailure

from conftest import make_config


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_loopback_ignores_proxy_variables(sandbox, monkeypatch):
    dead = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HTTPS_PROXY", "https_proxy", "http_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    client = agora_link.AgoraLinkClient(make_config(sandbox))
    assert len(client.list_packages_blocking()) == 5


def test_a_proxy_that_is_down_is_named_without_its_password(sandbox):
    port = _closed_port()
    config = make_config(sandbox)
    config.set_base_url("https://api.sd-rtn.com")
    settings = agora_link.default_failover_settings()
    settings.enabled = False
    config.set_failover(settings)
    config.set_proxy(agora_link.Secret(f"http://alice:Pr0xy-Pa55@127.0.0.1:{port}"))
    client = agora_link.AgoraLinkClient(config)
    with pytest.raises(AgoraLinkError) as caught:
        client.list_packages_blocking()
    error = caught.value
    assert error.kind == FailureKind.NETWORK
    assert f"http://***@127.0.0.1:{port}" in error.reason
    assert [a.failure for a in error.attempts] == [HostFailure.PROXY]
    for shown in (str(error), repr(error), error.reason):
        assert "Pr0xy-Pa55" not in shown
    assert all(h.failures == 0 for h in client.stats().hosts)


def test_no_proxy_star_and_bad_proxies(sandbox, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{_closed_port()}")
    config = make_config(sandbox)
    config.set_no_proxy("*")
    assert len(agora_link.AgoraLinkClient(config).list_packages_blocking()) == 5
    config.set_proxy(agora_link.Secret("socks5://bob:S3cret@127.0.0.1:1080"))
    with pytest.raises(AgoraLinkError) as caught:
        agora_link.AgoraLinkClient(config)
    assert caught.value.kind == FailureKind.CONFIG
    assert "S3cret" not in str(caught.value)
    config.set_proxy(None)
    assert len(agora_link.AgoraLinkClient(config).list_packages_blocking()) == 5
