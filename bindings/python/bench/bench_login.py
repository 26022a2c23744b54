"""Benchmark: N third-party logins at concurrency 64 through the Python binding (asyncio) and
through a plain Python HTTP client doing the same exchange (httpx, async), against one sandbox
binary. Prints calls/s of both and the ratio (target: binding >= 2x httpx).

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
CONCURRENCY = 64
PROJECT, ACCOUNT = "bench", "bench-py"
CREDS = dict(client_id="sandbox-client-id", client_secret="sandbox-client-secret",
             username="sandbox-user", password="sandbox-password")


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


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sandbox = subprocess.Popen([str(SANDBOX), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        base = sandbox.stdout.readline().split()[-1]
        binding, plain, ratios = [], [], []
        for _ in range(rounds):
            b = asyncio.run(run_binding(base, total))
            h = asyncio.run(run_httpx(base, total))
            binding.append(b)
            plain.append(h)
            ratios.append(b / h)
        print(f"bench_login.py: {total} logins, concurrency {CONCURRENCY}, median of {rounds} rounds")
        print(f"  agora_link binding (asyncio)  {statistics.median(binding):8.0f} calls/s")
        print(f"  httpx.AsyncClient             {statistics.median(plain):8.0f} calls/s")
        print(f"  ratio {statistics.median(ratios):.2f}x (target >= 2x)")
        print(json.dumps({"binding": binding, "httpx": plain}))
    finally:
        sandbox.terminate()


if __name__ == "__main__":
    main()
