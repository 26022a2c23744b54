"""Domain switching from Python: a dead primary with the sandbox as the regional host, the
client's counters, the hosts an error lists, and invalid settings."""

from __future__ import annotations

import socket

import pytest

import agora_link
from agora_link import AgoraLinkError, FailureKind, HostFailure, RegionalStep

from conftest import make_config


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _config(sandbox, primary: str, regional: list[str]) -> agora_link.AgoraLinkConfig:
    config = make_config(sandbox)
    config.set_base_url(f"http://{primary}")
    settings = agora_link.default_failover_settings()
    settings.backoff_ms = [10]
    settings.regional = RegionalStep.HOSTS(hosts=regional)
    config.set_failover(settings)
    return config


def test_default_settings_follow_the_spec():
    settings = agora_link.default_failover_settings()
    assert settings.enabled and settings.retry_same_host and settings.other_primary
    assert settings.backoff_ms == [1000, 3000, 6000]
    assert settings.jitter_percent == 20
    assert settings.call_deadline_ms == 30_000
    assert settings.cooldown_ms == 30_000 and settings.max_cooldown_ms == 300_000
    assert settings.server_site is None


async def test_a_dead_primary_is_tried_once_then_skipped(sandbox):
    dead = _closed_port()
    client = agora_link.AgoraLinkClient(_config(sandbox, dead, [sandbox.host_port]))
    for _ in range(3):
        assert len(await client.list_packages()) == 5
    stats = client.stats()
    assert (stats.requests, stats.failovers, stats.retries, stats.failed_requests) == (4, 1, 1, 0)
    hosts = {h.host: h for h in stats.hosts}
    assert hosts[dead].attempts == 2 and hosts[dead].skipped == 3
    assert hosts[dead].cooling_down and hosts[dead].cooldown_remaining_ms > 0
    assert hosts[dead].last_failure == HostFailure.REFUSED
    assert hosts[sandbox.host_port].successes == 4
    assert hosts[sandbox.host_port].last_failure is None


async def test_errors_list_every_host_tried(sandbox):
    dead, also_dead = _closed_port(), _closed_port()
    client = agora_link.AgoraLinkClient(_config(sandbox, dead, [also_dead]))
    with pytest.raises(AgoraLinkError) as caught:
        await client.access_token()
    error = caught.value
    assert error.kind == FailureKind.NETWORK
    assert [(a.host, a.failure) for a in error.attempts] == [
        (dead, HostFailure.REFUSED),
        (dead, HostFailure.REFUSED),
        (also_dead, HostFailure.REFUSED),
    ]
    assert also_dead in error.reason
    assert client.stats().failed_requests == 1


async def test_failover_off_makes_one_attempt(sandbox):
    config = make_config(sandbox)
    config.set_base_url(f"http://{_closed_port()}")
    settings = agora_link.default_failover_settings()
    settings.enabled = False
    config.set_failover(settings)
    client = agora_link.AgoraLinkClient(config)
    with pytest.raises(AgoraLinkError) as caught:
        await client.access_token()
    assert len(caught.value.attempts) == 1


def test_invalid_settings_are_refused(sandbox):
    config = make_config(sandbox)
    bad = []
    for change in (
        lambda s: setattr(s, "jitter_percent", 101),
        lambda s: setattr(s, "call_deadline_ms", 0),
        lambda s: setattr(s, "cooldown_ms", 400_000),
        lambda s: setattr(s, "regional", RegionalStep.ADJACENT(region="mars-1", address_map=[])),
        lambda s: setattr(
            s,
            "regional",
            RegionalStep.ADJACENT(
                region=None, address_map=[agora_link.RegionMapping(network="10.0.0.0/99", region="eu-west-1")]
            ),
        ),
        lambda s: setattr(s, "regional", RegionalStep.HOSTS(hosts=["bad host/"])),
    ):
        settings = agora_link.default_failover_settings()
        change(settings)
        with pytest.raises(AgoraLinkError) as caught:
            config.set_failover(settings)
        bad.append(caught.value.kind)
    assert bad == [FailureKind.INVALID_ARGUMENT] * 6
    settings = agora_link.default_failover_settings()
    settings.server_site = agora_link.ServerSite.ELSEWHERE
    settings.regional = RegionalStep.ADJACENT(
        region="eu-central-1", address_map=[agora_link.RegionMapping(network="10.0.0.0/8", region="eu-west-1")]
    )
    config.set_failover(settings)
    config.set_resolve_overrides_only(True)
