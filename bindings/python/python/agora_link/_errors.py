"""Exceptions as a hierarchy: one subclass of ``AgoraLinkError`` per failure kind, so that
``except agora_link.AuthError:`` works, and exceptions that survive ``pickle`` (a failing
``multiprocessing`` or ``concurrent.futures`` worker reports its error instead of breaking the
pool).

Every failure the library raises is an instance of the subclass of its kind; each subclass is
also an ``AgoraLinkError.Failure`` (the generated class), so existing ``except`` clauses keep
working.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ._native import agora_link as _native

_Failure: Any = _native.AgoraLinkError.Failure


class ConfigError(_Failure):  # type: ignore[misc, valid-type]
    """Invalid configuration: bad URL, plain HTTP to a remote host, bad PEM, unknown region."""


class InvalidArgumentError(_Failure, ValueError):  # type: ignore[misc, valid-type]
    """An invalid argument (empty account, zero timeout, an integer out of the parameter's
    range, ...); nothing was sent. Also a ``ValueError``."""


class NetworkError(_Failure):  # type: ignore[misc, valid-type]
    """The server could not be reached, the connection failed, or a proxy answered instead."""


class RequestTimeoutError(_Failure):  # type: ignore[misc, valid-type]
    """The connect or request timeout expired (named so as not to shadow the built-in
    ``TimeoutError``)."""


class TlsError(_Failure):  # type: ignore[misc, valid-type]
    """The TLS handshake failed (untrusted certificate, no common algorithm, not TLS)."""


class AuthError(_Failure):  # type: ignore[misc, valid-type]
    """Credentials or a token were refused (``server_code``/``server_message`` say why)."""


class ApiError(_Failure):  # type: ignore[misc, valid-type]
    """The server answered with a non-zero code (``server_code``, ``server_message``,
    ``http_status``, ``trace_id``)."""


class DecodeError(_Failure):  # type: ignore[misc, valid-type]
    """The response could not be decoded (not JSON, or not the documented shape)."""


class ShutdownError(_Failure):  # type: ignore[misc, valid-type]
    """The library runtime was shut down (``shutdown_runtime``, or interpreter exit)."""


class WouldDeadlockError(_Failure):  # type: ignore[misc, valid-type]
    """A blocking call was made on a library thread (inside a listener): use the async call."""


#: The class of each failure kind.
BY_KIND: Dict[Any, type] = {
    _native.FailureKind.CONFIG: ConfigError,
    _native.FailureKind.INVALID_ARGUMENT: InvalidArgumentError,
    _native.FailureKind.NETWORK: NetworkError,
    _native.FailureKind.TIMEOUT: RequestTimeoutError,
    _native.FailureKind.TLS: TlsError,
    _native.FailureKind.AUTH: AuthError,
    _native.FailureKind.API: ApiError,
    _native.FailureKind.DECODE: DecodeError,
    _native.FailureKind.SHUTDOWN: ShutdownError,
    _native.FailureKind.WOULD_DEADLOCK: WouldDeadlockError,
}

_FIELDS = ("kind", "reason", "server_code", "server_message", "http_status", "trace_id", "attempts")


def _reduce(self: Any) -> Tuple[Any, Tuple[Any, ...]]:
    """Pickles as the class and its fields (the generated class pickles as one string, which
    its constructor cannot take back)."""
    return (type(self), tuple(getattr(self, name) for name in _FIELDS))


def _str(self: Any) -> str:
    """The reason: what ``print(error)`` and tracebacks show (never a secret)."""
    return str(self.reason)


def _repr(self: Any) -> str:
    extras = [f"kind={self.kind.name}", f"reason={self.reason!r}"]
    for name in ("server_code", "server_message", "http_status", "trace_id"):
        value = getattr(self, name)
        if value is not None:
            extras.append(f"{name}={value!r}")
    if self.attempts:
        extras.append(f"attempts={self.attempts!r}")
    return f"{type(self).__name__}({', '.join(extras)})"


def invalid_argument(reason: str) -> Any:
    """An :class:`InvalidArgumentError` raised before the library is called."""
    return InvalidArgumentError(_native.FailureKind.INVALID_ARGUMENT, reason, None, None, None, None, [])


def _install_integer_checks() -> None:
    """Integers out of a parameter's range (``set_request_timeout_ms(2**64)``) raise
    :class:`InvalidArgumentError` like every other invalid argument (the generated check raises
    a bare ``ValueError``; ``InvalidArgumentError`` is one too)."""
    converter: Any = _native._UniffiConverterPrimitiveInt
    generated = converter.check_lower.__func__

    def check_lower(cls: Any, value: Any) -> None:
        try:
            generated(cls, value)
        except ValueError:
            raise invalid_argument(
                f"{value} is out of range (an {cls.CLASS_NAME}: {cls.VALUE_MIN} to {cls.VALUE_MAX - 1})"
            ) from None

    converter.check_lower = classmethod(check_lower)


def install() -> None:
    """Makes the generated error converter raise the subclass of each kind (once, at import)."""
    for cls in BY_KIND.values():
        cls.__module__ = "agora_link"
    _install_integer_checks()
    _Failure.__reduce__ = _reduce
    _Failure.__str__ = _str
    _Failure.__repr__ = _repr
    converter = _native._UniffiFfiConverterTypeAgoraLinkError
    generated_read = converter.read

    def read(buf: Any) -> Any:
        error = generated_read(buf)
        specific = BY_KIND.get(getattr(error, "kind", None))
        if specific is not None and type(error) is _Failure:
            error.__class__ = specific
        return error

    converter.read = staticmethod(read)


__all__: List[str] = [cls.__name__ for cls in BY_KIND.values()]
_ = Optional  # (typing names used in the stub-like annotations above)
