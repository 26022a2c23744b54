"""agora-link: the Agora Link (声网灵隼) IoT platform REST API from Python.

A thin, typed layer over the Rust SDK (UniFFI). Every call exists twice: ``await
client.login_account(...)`` for asyncio, ``client.login_account_blocking(...)`` for scripts.
Failures raise :class:`AgoraLinkError` (``.kind``, ``.reason``, ``.server_code``,
``.server_message``, ``.http_status``, ``.trace_id``, ``.attempts``: the hosts tried), as the
subclass of their kind (``except agora_link.AuthError:``; ``ConfigError``,
``InvalidArgumentError``, ``NetworkError``, ``RequestTimeoutError``, ``TlsError``, ``ApiError``,
``DecodeError``, ``ShutdownError``, ``WouldDeadlockError``); they survive ``pickle``. Domain
switching follows the spec (``config.set_failover(default_failover_settings())`` to tune it);
``client.stats()`` gives the request counters and host health. ``IotProvider(client,
login.gy_token, ...)`` keeps IoT credentials fresh and presigns MQTT-over-WebSocket URLs;
``presign_mqtt_url(...)`` presigns one from raw credentials. Secrets are :class:`Secret` objects whose
``str``/``repr`` is ``***``; ``secret.reveal()`` gives the value.

Records (``CloudStoragePackage``, ``LoginResult``, ...) show every field in their ``repr``
(secrets as ``***``, the AWS access key id as ``'ASIA…(20)'``), compare by value (and unequal to anything of another type), are
dataclasses (``dataclasses.fields``, ``asdict``, ``replace``; secrets stay :class:`Secret`
objects there) and have ``to_dict(reveal=False)``: plain values for ``json.dumps``, with secrets
``"***"`` unless revealed (identifiers, the access key id among them, in full).

Lifecycle: ``with AgoraLinkClient(config) as client:`` (or ``client.close()``) closes the
client: later calls raise ``ShutdownError``. Ctrl-C interrupts a blocking call made from the
main thread within about 50 ms (``KeyboardInterrupt``); a read is cancelled with it, a purchase
or account change runs to its end in the background (never half-sent).

Logging: records go to the standard :mod:`logging` module under the ``agora_link`` logger
(``agora_link.transport``, ``agora_link.failover``, ...), which has a ``NullHandler``: configure
logging as usual (``logging.basicConfig(level=logging.DEBUG)``) to see them. Only records at or
above the logger's effective level leave the library, so disabled levels cost nothing;
``set_log_listener`` replaces this with your own listener.

Processes: the SDK survives ``os.fork()``. gunicorn ``--preload``, Celery's prefork pool and
``multiprocessing`` with the ``fork`` start method may share a module-level client: in each
child, the client's first call builds fresh connections (the parent's are never touched, and
the parent is never affected by what a child does) and keeps the cached REST token. Calls in
flight in the parent when it forks complete in the parent only. The SDK never raises SIGPIPE.

At interpreter exit (``atexit``), the SDK stops its threads (``shutdown_runtime(1000)``): a
library thread that called into Python during finalization (a log record, an IoT event, an
async call's completion) would be ended there by ``pthread_exit``, which aborts the process.
Calls made from ``atexit`` handlers registered before ``import agora_link`` fail with
``Shutdown``.
"""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING, List, Optional

from ._native.agora_link import (
    AgoraLinkConfig,
    ClientStats,
    CloudStoragePackage,
    FailedAttempt,
    FailoverSettings,
    FailureKind,
    HostFailure,
    HostStats,
    IotCredentialSource,
    IotCredentials,
    IotEvent,
    IotEventListener,
    IotProvider,
    LogLevel,
    LogListener,
    LogRecord,
    LoginResult,
    OpenPackageRequest,
    Region,
    RegionMapping,
    RegionalStep,
    RegisteredAccount,
    RestToken,
    Secret,
    ServerSite,
    default_failover_settings,
    library_version,
    presign_mqtt_url,
    region_from_name,
    set_log_level,
    shutdown_runtime,
)

from . import _errors, _native_glue, _records
from ._native_glue import clear_log_listener, set_log_listener, use_python_logging

if TYPE_CHECKING:

    class AgoraLinkError(Exception):
        """Every failure of the SDK (for type checkers: the attributes every failure has).
        Subclasses by kind: ``ConfigError``, ``InvalidArgumentError``, ``NetworkError``,
        ``RequestTimeoutError``, ``TlsError``, ``AuthError``, ``ApiError``, ``DecodeError``,
        ``ShutdownError``, ``WouldDeadlockError``."""

        kind: FailureKind
        reason: str
        server_code: Optional[int]
        server_message: Optional[str]
        http_status: Optional[int]
        trace_id: Optional[str]
        attempts: List[FailedAttempt]

    # The subclass of each kind (for type checkers: each has AgoraLinkError's attributes).
    class ConfigError(AgoraLinkError): ...
    class InvalidArgumentError(AgoraLinkError, ValueError): ...
    class NetworkError(AgoraLinkError): ...
    class RequestTimeoutError(AgoraLinkError): ...
    class TlsError(AgoraLinkError): ...
    class AuthError(AgoraLinkError): ...
    class ApiError(AgoraLinkError): ...
    class DecodeError(AgoraLinkError): ...
    class ShutdownError(AgoraLinkError): ...
    class WouldDeadlockError(AgoraLinkError): ...

    from types import TracebackType
    from typing import Type

    from ._native.agora_link import AgoraLinkClient as _GeneratedClient

    class AgoraLinkClient(_GeneratedClient):
        """A client for the Agora Link REST API (for type checkers: the generated class plus
        ``close()``, ``closed`` and the context-manager protocol, added at import)."""

        @property
        def closed(self) -> bool: ...
        def close(self) -> None: ...
        def __enter__(self) -> "AgoraLinkClient": ...
        def __exit__(
            self,
            exc_type: Optional[Type[BaseException]],
            exc: Optional[BaseException],
            traceback: Optional[TracebackType],
        ) -> None: ...
        async def __aenter__(self) -> "AgoraLinkClient": ...
        async def __aexit__(
            self,
            exc_type: Optional[Type[BaseException]],
            exc: Optional[BaseException],
            traceback: Optional[TracebackType],
        ) -> None: ...

else:
    from ._errors import (
        ApiError,
        AuthError,
        ConfigError,
        DecodeError,
        InvalidArgumentError,
        NetworkError,
        RequestTimeoutError,
        ShutdownError,
        TlsError,
        WouldDeadlockError,
    )
    from ._native.agora_link import AgoraLinkClient, AgoraLinkError

# One subclass per failure kind, picklable (see _errors.py).
_errors.install()

# repr with every field, equality with anything, dataclasses support and to_dict() on every
# record (and value equality on Secret): see _records.py.
_records.install()

# Ctrl-C in blocking calls, ``with``/``close()``, records into the ``agora_link`` logger: see
# _native_glue.py.
_native_glue.install()

__version__: str = library_version()

__all__ = [
    "ApiError",
    "AuthError",
    "ConfigError",
    "DecodeError",
    "InvalidArgumentError",
    "NetworkError",
    "RequestTimeoutError",
    "ShutdownError",
    "TlsError",
    "WouldDeadlockError",
    "AgoraLinkClient",
    "AgoraLinkConfig",
    "AgoraLinkError",
    "ClientStats",
    "CloudStoragePackage",
    "FailedAttempt",
    "FailoverSettings",
    "FailureKind",
    "HostFailure",
    "HostStats",
    "IotCredentialSource",
    "IotCredentials",
    "IotEvent",
    "IotEventListener",
    "IotProvider",
    "LogLevel",
    "LogListener",
    "LogRecord",
    "LoginResult",
    "OpenPackageRequest",
    "Region",
    "RegionMapping",
    "RegionalStep",
    "RegisteredAccount",
    "RestToken",
    "Secret",
    "ServerSite",
    "clear_log_listener",
    "config_from_env",
    "default_failover_settings",
    "library_version",
    "presign_mqtt_url",
    "region_from_name",
    "set_log_level",
    "set_log_listener",
    "shutdown_runtime",
    "use_python_logging",
]


def _stop_library_threads_at_exit() -> None:
    try:
        shutdown_runtime(1000)
    except AgoraLinkError:
        pass


atexit.register(_stop_library_threads_at_exit)


def config_from_env(environ: Optional[dict] = None) -> AgoraLinkConfig:
    """A configuration from the CLI's environment variables: ``AGORA_LINK_REGION`` (cn|na),
    ``AGORA_LINK_ENDPOINT``, ``AGORA_LINK_CLIENT_ID``, ``AGORA_LINK_CLIENT_SECRET``,
    ``AGORA_LINK_USERNAME`` and ``AGORA_LINK_PASSWORD``. Raises ``KeyError`` when the client id
    or secret is missing. The region is case-insensitive (``cn``/``china``, ``na``/``north-america``;
    default ``cn``); any other value raises :class:`AgoraLinkError` (kind ``CONFIG``) naming the
    accepted values."""
    env = os.environ if environ is None else environ
    region = region_from_name(env.get("AGORA_LINK_REGION") or "cn")
    config = AgoraLinkConfig(
        region, env["AGORA_LINK_CLIENT_ID"], Secret(env["AGORA_LINK_CLIENT_SECRET"])
    )
    if env.get("AGORA_LINK_ENDPOINT"):
        config.set_base_url(env["AGORA_LINK_ENDPOINT"])
    if env.get("AGORA_LINK_USERNAME") and env.get("AGORA_LINK_PASSWORD"):
        config.set_password_grant(env["AGORA_LINK_USERNAME"], Secret(env["AGORA_LINK_PASSWORD"]))
    return config
