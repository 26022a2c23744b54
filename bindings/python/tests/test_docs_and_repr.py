"""What ``help()`` and ``repr()`` show: docstrings free of Rust-only syntax (intra-doc links such
as [`Self::list_packages`] are Rust's, meaningless in Python), and one-line string forms of
configurations, clients and records that never show a secret (issue 20). No network."""

from __future__ import annotations

import inspect
import re

import agora_link

# A Rust intra-doc link ([`Name`], [`Self::name`], [text](crate::path)) or a Rust path.
RUST_SYNTAX = re.compile(r"\[`[^`\]]+`\]|\]\((?:crate|self|super|Self)::|\b(?:Self|crate)::")


def _documented():
    """(qualified name, docstring) of every public object of the package and of its members."""
    for name in agora_link.__all__:
        value = getattr(agora_link, name)
        yield name, inspect.getdoc(value) or ""
        if inspect.isclass(value):
            for member_name, member in vars(value).items():
                if member_name.startswith("_") and member_name != "__init__":
                    continue
                doc = getattr(member, "__doc__", None)
                if isinstance(member, property):
                    doc = member.__doc__
                if isinstance(doc, str):
                    yield f"{name}.{member_name}", doc


def test_no_docstring_carries_rust_link_syntax():
    offending = [
        f"{name}: {match.group(0)!r}"
        for name, doc in _documented()
        for match in [RUST_SYNTAX.search(doc)]
        if match
    ]
    assert not offending, "Rust doc syntax in the Python docstrings:\n" + "\n".join(offending)


def test_the_rust_syntax_check_catches_what_it_should():
    for leaked in ("Blocking [`Self::list_packages`].", "start from [`default_failover_settings`]",
                   "see [the docs](crate::config::ClientConfig)", "after Self::shutdown"):
        assert RUST_SYNTAX.search(leaked), leaked
    for fine in ("`list_packages` (`listPackages`)", "a list [1, 2]", "targets `agora_link::*`"):
        assert not RUST_SYNTAX.search(fine), fine


def test_the_api_is_documented():
    client = agora_link.AgoraLinkClient
    assert "cloud-storage package" in (client.list_packages_blocking.__doc__ or "")
    assert "blocking the calling thread" in (client.list_packages_blocking.__doc__ or "")
    assert "Thread-safe" in (inspect.getdoc(client) or "")
    assert "secret" in (inspect.getdoc(agora_link.Secret) or "").lower()
    assert "failover" in (agora_link.AgoraLinkConfig.set_failover.__doc__ or "")
    undocumented = [name for name, doc in _documented() if "." not in name and not doc.strip()]
    assert not undocumented, f"public names without a docstring: {undocumented}"


SECRETS = ("topsecret-value-0123", "pa55word-value-4567", "http://user:proxypw@proxy:3128")


def _config() -> agora_link.AgoraLinkConfig:
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "client-id-abc", agora_link.Secret(SECRETS[0]))
    config.set_password_grant("alice", agora_link.Secret(SECRETS[1]))
    config.set_base_url("http://127.0.0.1:8080")
    config.set_proxy(agora_link.Secret(SECRETS[2]))
    return config


def _constructor_style(shown: str, name: str) -> None:
    assert "\n" not in shown and "\r" not in shown, shown
    assert re.fullmatch(rf"{name}\((\w+=[^,]+)(, \w+=[^,]+)*\)", shown), shown


def test_a_configuration_prints_as_one_constructor_style_line_without_secrets():
    config = _config()
    for shown in (repr(config), str(config)):
        _constructor_style(shown, "AgoraLinkConfig")
        for secret in SECRETS:
            assert secret not in shown and "proxypw" not in shown
        assert "region=Region.CHINA" in shown and 'client_id="client-id-abc"' in shown
        assert "client_secret=***" in shown and 'username="alice"' in shown and "password=***" in shown
        assert 'base_url="http://127.0.0.1:8080"' in shown and "proxy=***" in shown
        assert "ClientConfigBuilder" not in shown and "Duration" not in shown  # no Rust dump
    plain = agora_link.AgoraLinkConfig(agora_link.Region.NORTH_AMERICA, "id", agora_link.Secret("s" * 20))
    assert repr(plain) == 'AgoraLinkConfig(region=Region.NORTH_AMERICA, client_id="id", client_secret=***)'


def test_user_info_in_a_base_url_is_masked():
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "id", agora_link.Secret("x"))
    config.set_base_url("http://user:b4se-pa55@127.0.0.1:8080")
    assert "b4se-pa55" not in repr(config) and 'base_url="http://***@127.0.0.1:8080"' in repr(config)


def test_a_hostile_client_id_stays_on_one_line():
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "a\nb\x1b[31m", agora_link.Secret("x"))
    assert "\n" not in repr(config) and "\x1b" not in repr(config)


def test_a_client_prints_its_region_endpoint_and_state():
    client = agora_link.AgoraLinkClient(_config())
    shown = repr(client)
    _constructor_style(shown, "AgoraLinkClient")
    assert shown == ('AgoraLinkClient(region=Region.CHINA, api_base="http://127.0.0.1:8080/agoralink/cn/api", '
                     "state=open)")
    assert str(client) == shown
    for secret in SECRETS:
        assert secret not in shown
    client.close()
    assert repr(client).endswith("state=closed)")


def _iot_credentials(access_key_id: str) -> agora_link.IotCredentials:
    secret = agora_link.Secret
    return agora_link.IotCredentials(
        endpoint="a1b2c3-ats.iot.cn-north-1.amazonaws.com.cn", region="cn-north-1", account="acct",
        expiration_s=3600, expires_at_ms=1, granwin_token=secret("granwin-token-value-0000"),
        identifier="ident", identity_id="cn-north-1:abcd", identity_pool_id="cn-north-1:pool",
        cognito_token=secret("cognito-token-value-0000"), access_key_id=access_key_id,
        secret_key=secret("secret-key-value-00000000"), session_token=secret("session-token-value-0000"),
        session_expiration_ms=2,
    )


def test_the_access_key_id_is_masked_in_repr_and_given_in_full_by_to_dict():
    credentials = _iot_credentials("ASIA0123456789ABCDEF")
    shown = repr(credentials)
    assert "access_key_id='ASIA…(20)'" in shown, shown
    assert "ASIA0123456789ABCDEF" not in shown and "0123456789" not in str(credentials)
    for secret in ("granwin-token-value", "cognito-token-value", "secret-key-value", "session-token-value"):
        assert secret not in shown
    assert credentials.to_dict()["access_key_id"] == "ASIA0123456789ABCDEF"
    assert credentials.to_dict()["secret_key"] == "***"
    assert credentials.access_key_id == "ASIA0123456789ABCDEF"
    # A short one (a test value) is masked whole, as a short secret is.
    assert "access_key_id='***'" in repr(_iot_credentials("AKIASHORT"))

