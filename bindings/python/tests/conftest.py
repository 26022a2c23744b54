"""Fixtures: the sandbox binary on an ephemeral loopback port, its admin API, and clients."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid

import pytest

import agora_link

ROOT = pathlib.Path(__file__).resolve().parents[3]
SANDBOX_BIN = os.environ.get(
    "AGORA_LINK_SANDBOX_BIN", str(ROOT / "target" / "release" / "agora-link-sandbox")
)
CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
USERNAME = "sandbox-user"
PASSWORD = "sandbox-password"


class Sandbox:
    """A running sandbox binary and its admin API (/_sandbox/...)."""

    def __init__(self, url: str, process: subprocess.Popen):
        self.url = url
        self.process = process

    def _admin(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            payload = response.read()
            return json.loads(payload) if payload else None

    def stats(self) -> dict:
        return self._admin("GET", "/_sandbox/stats")

    def token_requests(self) -> int:
        return sum(self.stats()["token_requests_by_grant"].values())

    def orders(self) -> list:
        return self._admin("GET", "/_sandbox/orders")

    def inject(self, path_suffix: str, action: dict, times: int = 1) -> None:
        self._admin("POST", "/_sandbox/faults", {"path_suffix": path_suffix, "action": action, "times": times})

    @property
    def host_port(self) -> str:
        """``127.0.0.1:<port>`` of the sandbox."""
        return self.url.split("://", 1)[1]

    def clear_faults(self) -> None:
        self._admin("DELETE", "/_sandbox/faults")


def running_sandbox(*options: str):
    """The sandbox binary on an ephemeral loopback port with `options`, for a `yield` fixture."""
    process = subprocess.Popen(
        [SANDBOX_BIN, "--listen", "127.0.0.1:0", *options], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        pytest.fail(f"the sandbox did not start ({SANDBOX_BIN}): {line!r}")
    yield Sandbox(line.split()[-1], process)
    process.terminate()
    process.wait(timeout=5)


@pytest.fixture(scope="session")
def sandbox():
    yield from running_sandbox("--iot-gateway")


@pytest.fixture(autouse=True)
def _no_leftover_faults(sandbox):
    yield
    sandbox.clear_faults()


def make_config(sandbox: Sandbox, timeout_ms: int = 10_000) -> agora_link.AgoraLinkConfig:
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, CLIENT_ID, agora_link.Secret(CLIENT_SECRET))
    config.set_password_grant(USERNAME, agora_link.Secret(PASSWORD))
    config.set_base_url(sandbox.url)
    config.set_request_timeout_ms(timeout_ms)
    # The spec's plan, with a 20 ms back-off instead of 1 s, 3 s, 6 s to keep the tests fast.
    settings = agora_link.default_failover_settings()
    settings.backoff_ms = [20]
    config.set_failover(settings)
    return config


@pytest.fixture
def client(sandbox) -> agora_link.AgoraLinkClient:
    """A fresh client (its own token cache) for each test."""
    return agora_link.AgoraLinkClient(make_config(sandbox))


@pytest.fixture
def account_name() -> str:
    return f"py-{uuid.uuid4().hex[:12]}"


def run_mypy(tmp_path: pathlib.Path, code: str) -> subprocess.CompletedProcess:
    """``mypy --strict`` on ``code`` (dedented) as a module of its own."""
    source = tmp_path / "example.py"
    source.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(source)],
                          capture_output=True, text=True, timeout=300)
