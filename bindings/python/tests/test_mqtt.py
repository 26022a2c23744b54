"""End to end from Python: login through the binding → presigned URL from an IotProvider →
MQTT over WebSocket (paho-mqtt) through the sandbox's SigV4-checking gateway to a real mosquitto
→ subscribe, publish, receive."""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

import agora_link

from conftest import SANDBOX_BIN, make_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mosquitto() -> str:
    for candidate in (os.environ.get("MOSQUITTO"), "/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.fail("mosquitto is needed (apt-get install mosquitto; .ci/run installs it)")


@pytest.fixture
def broker_and_gateway():
    """mosquitto (plain + WebSocket listeners) and a sandbox binary bridging its IoT gateway to it."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="agora-link-py-mqtt-"))
    plain, websocket = _free_port(), _free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        "per_listener_settings false\nallow_anonymous true\npersistence false\n"
        f"listener {plain} 127.0.0.1\nlistener {websocket} 127.0.0.1\nprotocol websockets\n"
    )
    broker = subprocess.Popen([_mosquitto(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", websocket), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
    sandbox = subprocess.Popen(
        [SANDBOX_BIN, "--listen", "127.0.0.1:0", "--iot-broker", f"127.0.0.1:{websocket}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = sandbox.stdout.readline().split()[-1]

    class Box:
        pass

    box = Box()
    box.url = url
    yield box
    sandbox.terminate()
    broker.terminate()
    sandbox.wait(timeout=5)
    broker.wait(timeout=5)
    shutil.rmtree(directory, ignore_errors=True)


def test_login_presign_connect_subscribe_publish_receive(broker_and_gateway):
    client = agora_link.AgoraLinkClient(make_config(broker_and_gateway))
    name = f"py-mqtt-{uuid.uuid4().hex[:8]}"
    account = client.register_account_blocking("py-mqtt", name)
    login = client.login_account_blocking("py-mqtt", name, account.token)
    provider = agora_link.IotProvider(client, login.gy_token, broker_and_gateway.url, None)

    url = provider.mqtt_url_blocking().reveal()
    assert url.startswith("ws://127.0.0.1:")
    authority, path = url.removeprefix("ws://").split("/", 1)
    host, port = authority.rsplit(":", 1)

    connected = threading.Event()
    subscribed = threading.Event()
    received: list[tuple[str, bytes]] = []
    got = threading.Event()
    topic = f"$aws/things/{name}/shadow/get/accepted"

    session = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=provider.client_id(), transport="websockets"
    )
    session.ws_set_options(path="/" + path, headers={"Host": authority})
    session.on_connect = lambda c, u, f, rc, p: connected.set() if rc == 0 else None
    session.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()

    def on_message(c, u, message):
        received.append((message.topic, message.payload))
        got.set()

    session.on_message = on_message
    session.connect(host, int(port), keepalive=30)
    session.loop_start()
    try:
        assert connected.wait(10), "no CONNACK through the gateway"
        session.subscribe(f"$aws/things/{name}/shadow/get/+", qos=1)
        assert subscribed.wait(10)
        session.publish(topic, b'{"state":{"reported":{"on":true}}}', qos=1)
        assert got.wait(10), "the message did not come back"
        assert received[0] == (topic, b'{"state":{"reported":{"on":true}}}')
    finally:
        session.loop_stop()
        session.disconnect()
