"""Benchmark: N third-party logins at concurrency 64 through the Python binding (asyncio), through
the Rust SDK itself (examples/bench_login_sdk.rs: tokio's multi-thread runtime, a process of its
own), and through a plain Python HTTP client doing the same exchange (httpx, async), all against
one sandbox process; and the binding once more with UniFFI's own completion path (a ctypes
callback on a library thread, what the binding used before its event-loop queue). Prints calls/s
of each and the ratios, medians of rounds in which the four take turns: binding / Rust SDK (goal
>= 0.8x: what the binding costs over the library it wraps), binding / httpx (target >= 2x) and
binding / binding with UniFFI's callback.

    cargo build --release --example bench_login_sdk -p agora-link   # once
    python bindings/python/bench/bench_login.py [logins, default 4000] [rounds, default 3]
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import statistics
import subprocess
import sys
import time
import uuid

import httpx

import agora_link

ROOT = pathlib.Path(__file__).resolve().parents[3]
SANDBOX = ROOT / "target" / "release" / "agora-link-sandbox"
RUST_SDK = ROOT / "target" / "release" / "examples" / "bench_login_sdk"
CONCURRENCY = 64
PROJECT, ACCOUNT = "bench", "bench-py"
CREDS = dict(client_id="sandbox-client-id", client_secret="sandbox-client-secret",
             username="sandbox-user", password="sandbox-password")


async def run_binding_callback(base: str, total: int) -> float:
    """The binding with UniFFI's own completion path (a ctypes callback on a library thread)
    instead of the event loop's queue: what the binding did before (docs/python.md)."""
    from agora_link import _native_glue

    _native_glue._gen._uniffi_rust_call_async = _native_glue._UNIFFI_RUST_CALL_ASYNC
    try:
        return await run_binding(base, total)
    finally:
        _native_glue._gen._uniffi_rust_call_async = _native_glue._rust_call_async


async def run_binding(base: str, total: int) -> float:
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, CREDS["client_id"],
                                        agora_link.Secret(CREDS["client_secret"]))
    config.set_base_url(base)
    config.set_password_grant(CREDS["username"], agora_link.Secret(CREDS["password"]))
    client = agora_link.AgoraLinkClient(config)
    name = f"{ACCOUNT}-{uuid.uuid4().hex[:8]}"
    token = (await client.register_account(PROJECT, name)).token
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one():
        async with semaphore:
            login = await client.login_account(PROJECT, name, token)
            assert login.gy_token.identity_id

    await asyncio.gather(*(one() for _ in range(200)))  # warm-up
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - started)


async def run_httpx(base: str, total: int) -> float:
    api = f"{base}/agoralink/cn/api"
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=15) as http:
        response = await http.post(f"{api}/oauth/rest-token", json={
            "grant_type": "password", "username": CREDS["username"], "password": CREDS["password"],
            "scope": "read", "client_id": CREDS["client_id"], "client_secret": CREDS["client_secret"]})
        bearer = {"Authorization": "Bearer " + response.json()["data"]["access_token"]}
        name = f"{ACCOUNT}-{uuid.uuid4().hex[:8]}"
        registered = (await http.post(f"{api}/oauth/third-party/register", headers=bearer, json={
            "projectId": PROJECT, "thirdPartyAccount": name})).json()
        body = {"clientId": CREDS["client_id"], "clientSecret": CREDS["client_secret"], "projectId": PROJECT,
                "thirdPartyAccount": name, "token": registered["data"]["token"]}
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one():
            async with semaphore:
                reply = await http.post(f"{api}/oauth/third-party/login", headers=bearer, json=body)
                data = reply.json()
                assert data["code"] == 0 and data["data"]["gyToken"]["pool"]["identityId"]

        await asyncio.gather(*(one() for _ in range(200)))  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(total)))
        return total / (time.perf_counter() - started)


def run_rust(base: str, total: int) -> float:
    """The Rust SDK's rate for `total` logins at the same concurrency (its timed part only)."""
    out = subprocess.run([str(RUST_SDK), base, str(total), str(CONCURRENCY)], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return float(json.loads(out.strip().splitlines()[-1])["calls_per_s"])


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if not RUST_SDK.exists():
        sys.exit(f"{RUST_SDK} is missing: cargo build --release --example bench_login_sdk -p agora-link")
    sandbox = subprocess.Popen([str(SANDBOX), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        base = sandbox.stdout.readline().split()[-1]
        binding, callback, rust, plain, to_rust, to_httpx, to_callback = [], [], [], [], [], [], []
        for round_ in range(rounds):
            # The four take turns going first.
            order = ["binding", "rust", "httpx", "callback"]
            order = order[round_ % 4:] + order[:round_ % 4]
            rates = {}
            for name in order:
                if name == "binding":
                    rates[name] = asyncio.run(run_binding(base, total))
                elif name == "callback":
                    rates[name] = asyncio.run(run_binding_callback(base, total))
                elif name == "rust":
                    rates[name] = run_rust(base, total)
                else:
                    rates[name] = asyncio.run(run_httpx(base, total))
            binding.append(rates["binding"])
            callback.append(rates["callback"])
            to_callback.append(rates["binding"] / rates["callback"])
            rust.append(rates["rust"])
            plain.append(rates["httpx"])
            to_rust.append(rates["binding"] / rates["rust"])
            to_httpx.append(rates["binding"] / rates["httpx"])
        print(f"bench_login.py: {total} logins, concurrency {CONCURRENCY}, median of {rounds} rounds, one sandbox process")
        print(f"  agora_link binding (asyncio)  {statistics.median(binding):8.0f} calls/s")
        print(f"  binding, UniFFI's callback    {statistics.median(callback):8.0f} calls/s (the completion path before 2026-12-07)")
        print(f"  Rust SDK (tokio, same server) {statistics.median(rust):8.0f} calls/s")
        print(f"  httpx.AsyncClient             {statistics.median(plain):8.0f} calls/s")
        print(f"  binding / Rust SDK {statistics.median(to_rust):.2f}x (goal >= 0.8x)")
        print(f"  binding / httpx    {statistics.median(to_httpx):.2f}x (target >= 2x)")
        print(f"  binding / binding with UniFFI's callback {statistics.median(to_callback):.2f}x")
        print(json.dumps({"binding": binding, "callback": callback, "rust": rust, "httpx": plain}))
    finally:
        sandbox.terminate()


if __name__ == "__main__":
    main()
