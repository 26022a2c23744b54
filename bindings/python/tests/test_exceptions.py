"""Exceptions as a hierarchy (one subclass per kind), picklable across processes, typed."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pathlib
import pickle

import pytest

import agora_link
from agora_link import AgoraLinkError, FailureKind

from conftest import make_config, run_mypy

EXPECTED = {
    FailureKind.CONFIG: agora_link.ConfigError,
    FailureKind.INVALID_ARGUMENT: agora_link.InvalidArgumentError,
    FailureKind.NETWORK: agora_link.NetworkError,
    FailureKind.TIMEOUT: agora_link.RequestTimeoutError,
    FailureKind.TLS: agora_link.TlsError,
    FailureKind.AUTH: agora_link.AuthError,
    FailureKind.API: agora_link.ApiError,
    FailureKind.DECODE: agora_link.DecodeError,
    FailureKind.SHUTDOWN: agora_link.ShutdownError,
    FailureKind.WOULD_DEADLOCK: agora_link.WouldDeadlockError,
}


def test_every_kind_has_its_subclass():
    assert set(EXPECTED) == set(FailureKind)
    for cls in EXPECTED.values():
        assert issubclass(cls, AgoraLinkError) and issubclass(cls, AgoraLinkError.Failure)
        assert cls.__doc__


def test_errors_are_raised_as_the_subclass_of_their_kind(sandbox, client):
    with pytest.raises(agora_link.InvalidArgumentError):
        client.register_account_blocking("p", "")
    with pytest.raises(agora_link.ApiError) as caught:
        client.get_package_blocking(4242)
    assert caught.value.kind == FailureKind.API and caught.value.server_code == 999999
    assert str(caught.value) == caught.value.reason
    assert repr(caught.value).startswith("ApiError(kind=API, reason=")
    config = make_config(sandbox)
    config.set_password_grant("sandbox-user", agora_link.Secret("wrong-password"))
    try:
        agora_link.AgoraLinkClient(config).list_packages_blocking()
    except agora_link.AuthError as error:
        assert error.http_status == 400 and "wrong-password" not in repr(error) + str(error)
    else:
        pytest.fail("no AuthError")
    bad = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "i", agora_link.Secret("s"))
    bad.set_base_url("http://api.sd-rtn.com")
    with pytest.raises(agora_link.ConfigError):
        agora_link.AgoraLinkClient(bad)


async def test_async_calls_raise_the_subclass_too(client):
    with pytest.raises(agora_link.ApiError):
        await client.get_package(4242)


def test_exceptions_survive_pickle(client):
    with pytest.raises(AgoraLinkError) as caught:
        client.get_package_blocking(4242)
    error = caught.value
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(error, protocol))
        assert type(copy) is agora_link.ApiError
        assert (copy.kind, copy.reason, copy.server_code, copy.server_message, copy.http_status, copy.trace_id) == (
            error.kind, error.reason, error.server_code, error.server_message, error.http_status, error.trace_id)
        assert copy.attempts == error.attempts


def _failing_worker(base_url: str) -> None:
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "sandbox-client-id",
                                        agora_link.Secret("sandbox-client-secret"))
    config.set_base_url(base_url)
    agora_link.AgoraLinkClient(config).get_package_blocking(4242)


def test_a_failing_process_pool_worker_reports_its_error(sandbox):
    # spawn: a fresh interpreter per worker; the exception comes back pickled.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(_failing_worker, sandbox.url)
        with pytest.raises(agora_link.ApiError) as caught:
            future.result(timeout=60)
    assert caught.value.server_code == 999999


def test_the_readme_except_pattern_passes_mypy(tmp_path: pathlib.Path):
    result = run_mypy(tmp_path, """
        import agora_link
        from agora_link import AgoraLinkError

        def run(client: agora_link.AgoraLinkClient) -> None:
            try:
                client.list_packages_blocking()
            except agora_link.AuthError as e:
                code: int | None = e.server_code
                print(code, e.reason)
            except AgoraLinkError as e:
                print(e.kind, e.reason, e.server_code, e.http_status, e.trace_id, e.server_message)
                for attempt in e.attempts:
                    print(attempt.host, attempt.failure)
    """)
    assert result.returncode == 0, result.stdout + result.stderr


def test_integers_out_of_range_are_invalid_arguments_too():
    config = agora_link.AgoraLinkConfig(agora_link.Region.CHINA, "id", agora_link.Secret("secret"))
    for call in (lambda: config.set_request_timeout_ms(2**64), lambda: config.set_request_timeout_ms(2**63),
                 lambda: config.set_pool_idle_timeout_ms(-(2**70)), lambda: agora_link.shutdown_runtime(2**64),
                 lambda: config.set_request_timeout_ms(-1), lambda: config.set_connect_timeout_ms(0)):
        with pytest.raises(agora_link.InvalidArgumentError) as caught:
            call()
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, AgoraLinkError)
        assert caught.value.kind == FailureKind.INVALID_ARGUMENT
    settings = agora_link.default_failover_settings()
    settings.jitter_percent = 2**40
    with pytest.raises(agora_link.InvalidArgumentError):
        config.set_failover(settings)
    assert type(caught.value).__module__ == "agora_link"
    assert "between 1 and" in str(pytest.raises(agora_link.InvalidArgumentError, config.set_request_timeout_ms, -5).value)


def test_mypy_sees_the_attributes_of_each_subclass(tmp_path: pathlib.Path):
    result = run_mypy(tmp_path, """
        import agora_link

        def run(client: agora_link.AgoraLinkClient) -> None:
            try:
                client.list_packages_blocking()
            except agora_link.AuthError as e:
                e.no_such_attribute_at_all
    """)
    assert result.returncode != 0 and "no_such_attribute_at_all" in result.stdout, result.stdout
