"""The whole flow through the real compiled library against the sandbox, async and blocking."""

from __future__ import annotations

import time

import agora_link
from agora_link import OpenPackageRequest


def _check_login(login: agora_link.LoginResult) -> None:
    now_ms = time.time() * 1000
    ls, gy = login.ls_token, login.gy_token
    assert ls.token_type == "bearer" and ls.scope == "read" and ls.expires_in_s == 43199
    assert ls.expires_at_ms > now_ms + 43_000_000
    assert ls.refresh_token is not None and len(ls.refresh_token.reveal()) == 40
    # The sandbox runs its IoT gateway: the endpoint is that gateway, not an AWS host.
    assert gy.endpoint.startswith("ws://127.0.0.1:")
    assert gy.region == "cn-north-1" and len(gy.account) == 32
    assert gy.expiration_s == 7200 and gy.expires_at_ms > now_ms + 7_000_000
    assert gy.identity_id.startswith("cn-north-1:") and gy.identity_pool_id.startswith("cn-north-1:")
    assert gy.identifier.startswith("100000000000000000_")
    assert gy.cognito_token.reveal().startswith("eyJ")
    assert gy.access_key_id.startswith("ASIA")
    assert len(gy.secret_key.reveal()) == 40 and gy.session_token.reveal().startswith("FwoD")
    assert gy.granwin_token.reveal().startswith("granwin_aws_user_info_hash:_7200_")
    assert now_ms + 3_500_000 < gy.session_expiration_ms < now_ms + 3_700_000


async def test_full_flow_async(sandbox, client, account_name):
    token = await client.access_token()
    assert token.token_type == "bearer" and token.expires_in_s == 31969
    account = await client.register_account("py-project", account_name)
    assert account.user_id.startswith("100000000000000000_")
    login = await client.login_account("py-project", account_name, account.token)
    _check_login(login)
    packages = await client.list_packages()
    assert [p.id for p in packages] == [1, 2, 3, 4, 5]
    assert packages[0].name == "包年365-1天" and packages[1].life_cycle == "THREE"
    package = await client.get_package(2)
    assert package == packages[1]
    before = len(sandbox.orders())
    order_id = await client.open_package(
        OpenPackageRequest(
            app_id="py-app", user_id=account.user_id, device_id="py-device",
            payment_order_id=f"pay-{account_name}", package_id=2, order_number=1,
        )
    )
    orders = sandbox.orders()
    assert len(orders) == before + 1 and orders[-1]["orderId"] == order_id
    await client.remove_account("py-project", account_name, account.token)


def test_full_flow_blocking(sandbox, client, account_name):
    assert client.access_token_blocking().scope == "read"
    account = client.register_account_blocking("py-project", account_name)
    _check_login(client.login_account_blocking("py-project", account_name, account.token))
    assert len(client.list_packages_blocking()) == 5
    assert client.get_package_blocking(3).life_cycle == "SEVEN"
    order_id = client.open_package_blocking(
        OpenPackageRequest(
            app_id="py-app", user_id=account.user_id, device_id="d",
            payment_order_id="p", package_id=1, order_number=2,
        )
    )
    assert order_id.startswith("b")
    client.remove_account_blocking("py-project", account_name, account.token)


def test_secrets_never_show_in_string_forms(client, account_name):
    account = client.register_account_blocking("py-project", account_name)
    login = client.login_account_blocking("py-project", account_name, account.token)
    secrets = [
        account.token.reveal(), login.ls_token.access_token.reveal(),
        login.ls_token.refresh_token.reveal(), login.gy_token.secret_key.reveal(),
        login.gy_token.session_token.reveal(), login.gy_token.cognito_token.reveal(),
        login.gy_token.granwin_token.reveal(),
    ]
    shown = " ".join([str(login), repr(login), str(account), repr(account), str(login.gy_token)])
    for secret in secrets:
        assert secret not in shown
    assert "***" in shown
    assert str(agora_link.Secret("hunter2")) == "***"
    assert agora_link.Secret("ASIA0123456789ABCDEF").masked() == "ASIA…(20)"
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "id", agora_link.Secret("topsecret-value"))
    config.set_password_grant("alice", agora_link.Secret("pa55word-value"))
    shown = repr(config)
    assert "alice" in shown and "***" in shown
    assert "topsecret-value" not in shown and "pa55word-value" not in shown


def test_version_matches_the_crate():
    import pathlib
    import re

    cargo = (pathlib.Path(__file__).resolve().parents[3] / "Cargo.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    assert agora_link.__version__ == version == agora_link.library_version()
