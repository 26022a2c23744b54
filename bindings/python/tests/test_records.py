"""Records you can look at: repr, equality, dataclasses, to_dict, secrets masked."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json

import agora_link
from agora_link import _records
from agora_link._native import agora_link as native


def _generated_records():
    """Every class of the generated module that takes keyword fields (records) or is an enum
    variant with fields, whatever this version of the bindings defines."""
    found = []
    for name, value in vars(native).items():
        if not inspect.isclass(value) or name.startswith("_") or value.__module__ != native.__name__:
            continue
        candidates = [value] + [v for v in vars(value).values() if inspect.isclass(v) and v.__name__.startswith(name + ".")]
        for cls in candidates:
            try:
                params = inspect.signature(cls.__init__).parameters
            except (TypeError, ValueError):
                continue
            keyword_only = [p for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
            if keyword_only or cls.__name__.startswith(name + "."):
                found.append(cls)
    return found


def test_every_generated_record_is_covered():
    assert set(_generated_records()) <= set(_records.RECORDS), set(_generated_records()) - set(_records.RECORDS)


def test_packages_print_compare_and_convert(client):
    packages = client.list_packages_blocking()
    text = repr(packages[:2])
    assert text.startswith("[CloudStoragePackage(id=1, name=") and "life_cycle=" in text
    assert str(packages[0]) == repr(packages[0])
    assert packages[0] == client.get_package_blocking(packages[0].id)
    assert packages[0] != packages[1]
    assert (packages[0] == None) is False  # noqa: E711
    assert packages[0] != "CloudStoragePackage"
    as_dict = dataclasses.asdict(packages[0])
    assert as_dict["id"] == 1 and set(as_dict) == {f.name for f in dataclasses.fields(packages[0])}
    assert packages[0].to_dict() == as_dict
    assert json.loads(json.dumps(packages[0].to_dict()))["name"] == packages[0].name
    changed = dataclasses.replace(packages[0], name="renamed")
    assert changed.name == "renamed" and changed != packages[0]


def test_logins_mask_secrets_unless_revealed(client, account_name):
    account = client.register_account_blocking("py-records", account_name)
    login = client.login_account_blocking("py-records", account_name, account.token)
    secrets = [account.token.reveal(), login.ls_token.access_token.reveal(),
               login.gy_token.secret_key.reveal(), login.gy_token.session_token.reveal(),
               login.gy_token.cognito_token.reveal(), login.gy_token.granwin_token.reveal()]
    for text in (repr(login), str(login), repr(account), json.dumps(login.to_dict()), repr(dataclasses.asdict(login))):
        assert "***" in text
        for secret in secrets:
            assert secret not in text
    masked = login.to_dict()
    assert masked["gy_token"]["secret_key"] == "***"
    assert masked["gy_token"]["identity_id"] == login.gy_token.identity_id
    revealed = login.to_dict(reveal=True)
    assert revealed["gy_token"]["secret_key"] == login.gy_token.secret_key.reveal()
    assert revealed["ls_token"]["access_token"] == login.ls_token.access_token.reveal()
    # asdict deep-copies: the secrets are the same native objects, still usable afterwards.
    copied = dataclasses.asdict(login)
    assert copied["gy_token"]["secret_key"] is login.gy_token.secret_key
    assert copy.deepcopy(login.gy_token).secret_key.reveal() == login.gy_token.secret_key.reveal()
    assert login == login and login != None  # noqa: E711


def test_secrets_compare_by_value():
    assert agora_link.Secret("a") == agora_link.Secret("a")
    assert agora_link.Secret("a") != agora_link.Secret("b")
    assert agora_link.Secret("a") != "a"
    assert len({agora_link.Secret("a"), agora_link.Secret("a")}) == 1


def test_enum_variants_and_settings_print_their_fields():
    event = agora_link.IotEvent.REFRESHED(source=agora_link.IotCredentialSource.COGNITO, expires_at_ms=5)
    assert repr(event).startswith("IotEvent.REFRESHED(source=<IotCredentialSource.COGNITO")
    assert repr(event).endswith(", expires_at_ms=5)")
    assert event.to_dict() == {"source": "COGNITO", "expires_at_ms": 5}
    assert event != None  # noqa: E711
    assert agora_link.IotEvent.LOGIN_REQUIRED() == agora_link.IotEvent.LOGIN_REQUIRED()
    settings = agora_link.default_failover_settings()
    assert "backoff_ms=" in repr(settings)
    assert settings == agora_link.default_failover_settings()
    assert dataclasses.asdict(settings)["backoff_ms"] == settings.backoff_ms


def _register_in_worker(url: str, name: str):
    import agora_link as worker_sdk
    from conftest import Sandbox, make_config

    client = worker_sdk.AgoraLinkClient(make_config(Sandbox(url, None)))
    return client.register_account_blocking("py-pickle", name)


def test_secrets_and_records_holding_them_pickle_by_value_across_processes(sandbox, account_name):
    import concurrent.futures
    import multiprocessing
    import pickle

    secret = agora_link.Secret("s3cr3t")
    copy_ = pickle.loads(pickle.dumps(secret))
    del secret
    assert copy_.reveal() == "s3cr3t"
    # A record made in a spawned worker comes back whole (the worker used to crash the parent).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        account = pool.submit(_register_in_worker, sandbox.url, account_name).result(timeout=120)
    assert isinstance(account, agora_link.RegisteredAccount)
    assert account.user_id.startswith("100000000000000000_") and len(account.token.reveal()) > 10
    assert "***" in repr(account)


def test_native_objects_refuse_pickling_and_copying(client):
    import pickle

    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "id", agora_link.Secret("secret"))
    for value in (client, config):
        for action in (pickle.dumps, copy.copy, copy.deepcopy):
            try:
                action(value)
            except TypeError as refused:
                assert "cannot be pickled or copied" in str(refused)
            else:
                raise AssertionError(f"{action.__name__} of {type(value).__name__} did not raise")
    assert client.access_token_blocking()  # still usable
