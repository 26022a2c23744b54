"""Quickstart from Python: token -> register -> login (IoT credentials) -> packages -> open.

    python examples/python/quickstart.py

With no AGORA_LINK_* variables it starts a sandbox and runs against it: the binary named by
AGORA_LINK_SANDBOX, else the checkout's release build (under $CARGO_TARGET_DIR when set, built with
`cargo build --release -p agora-link-sandbox` when missing), else `agora-link-sandbox` on PATH
(`cargo install agora-link-sandbox`); with
AGORA_LINK_ENDPOINT / AGORA_LINK_CLIENT_ID / ... set, against that deployment instead
(AGORA_LINK_QUICKSTART_OPEN=yes to really open a package there).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import subprocess
import sys
import time

import agora_link
from agora_link import AgoraLinkError, OpenPackageRequest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent  # the checkout, for its sandbox build


def sandbox_binary() -> str:
    """The sandbox to start (see the module's docstring); exits with one line when there is none."""
    named = os.environ.get("AGORA_LINK_SANDBOX")
    if named:
        if not os.access(named, os.X_OK) or os.path.isdir(named):
            sys.exit(f"quickstart: AGORA_LINK_SANDBOX={named} is not an executable file")
        return named
    target = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")  # an absolute one replaces ROOT
    binary = target / "release" / "agora-link-sandbox"
    if binary.exists():
        return str(binary)
    if shutil.which("agora-link-sandbox"):
        return "agora-link-sandbox"
    if (ROOT / "sandbox" / "Cargo.toml").exists() and shutil.which("cargo"):
        print("building the sandbox: cargo build --release -p agora-link-sandbox (minutes the first time)")
        built = subprocess.run(["cargo", "build", "--release", "-p", "agora-link-sandbox"], cwd=ROOT)
        if built.returncode == 0 and binary.exists():
            return str(binary)
    sys.exit("quickstart: no sandbox to start: set AGORA_LINK_SANDBOX to an agora-link-sandbox binary "
             "(cargo install agora-link-sandbox), or AGORA_LINK_ENDPOINT and your credentials")


def start_sandbox() -> subprocess.Popen:
    process = subprocess.Popen([sandbox_binary(), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    os.environ.update(
        AGORA_LINK_ENDPOINT=process.stdout.readline().split()[-1],
        AGORA_LINK_CLIENT_ID="sandbox-client-id", AGORA_LINK_CLIENT_SECRET="sandbox-client-secret",
        AGORA_LINK_USERNAME="sandbox-user", AGORA_LINK_PASSWORD="sandbox-password",
    )
    return process


async def main() -> None:
    sandbox = None
    if not os.environ.get("AGORA_LINK_ENDPOINT") and not os.environ.get("AGORA_LINK_CLIENT_ID"):
        sandbox = start_sandbox()
        print(f"0. sandbox at {os.environ['AGORA_LINK_ENDPOINT']}")
    try:
        client = agora_link.AgoraLinkClient(agora_link.config_from_env())
        token = await client.access_token()
        print(f"1. REST token {token.access_token.masked()}, expires in {token.expires_in_s} s")
        project = os.environ.get("AGORA_LINK_PROJECT_ID", "py-quickstart")
        account_name = os.environ.get("AGORA_LINK_ACCOUNT", f"py-quickstart-{int(time.time() * 1000)}")
        account = await client.register_account(project, account_name)
        print(f"2. registered {account_name}: userId {account.user_id}, token {account.token.masked()}")
        login = await client.login_account(project, account_name, account.token)
        iot = login.gy_token
        # Printed output masks every credential the same way: the first 4 characters and the
        # length (the access key id is an identifier, not a secret, but is shown masked too).
        access_key_id = agora_link.Secret(iot.access_key_id).masked()
        print(f"3. MQTT client id {iot.identity_id} at {iot.endpoint} ({iot.region}); "
              f"keys {access_key_id}/{iot.secret_key.masked()} expire in "
              f"{(iot.session_expiration_ms - time.time() * 1000) / 1000:.0f} s")
        packages = await client.list_packages()
        print(f"4. {len(packages)} packages: " + ", ".join(f"#{p.id} {p.name}" for p in packages))
        if sandbox or os.environ.get("AGORA_LINK_QUICKSTART_OPEN") == "yes":
            order = await client.open_package(OpenPackageRequest(
                app_id=os.environ.get("AGORA_LINK_APP_ID", "py-quickstart-app"), user_id=account.user_id,
                device_id="py-device", payment_order_id=f"py-pay-{account_name}",
                package_id=packages[0].id, order_number=1))
            print(f"5. opened package #{packages[0].id}: order {order}")
        await client.remove_account(project, account_name, account.token)
        print("6. removed the account; done")
    except AgoraLinkError as error:
        print(f"failed: {error.kind.name}: {error.reason} (server code {error.server_code}, "
              f"HTTP {error.http_status}, trace {error.trace_id})")
        raise SystemExit(1)
    finally:
        if sandbox:
            sandbox.terminate()


if __name__ == "__main__":
    asyncio.run(main())
