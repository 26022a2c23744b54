"""Records you can look at: ``repr`` with every field, equality with anything, ``dataclasses``
support and ``to_dict()`` — added to the classes UniFFI generates (which print as ``Name()``,
give ``{}`` from ``dataclasses.asdict`` and raise on ``record == None``)."""

from __future__ import annotations

import dataclasses
import enum
import hmac
import inspect
import typing
from typing import Any, Dict, List

from ._native import agora_link as _native

__all__ = ["RECORDS", "install"]

#: Every record of the bindings, and every enum variant that carries fields.
RECORDS: List[type] = [
    _native.ClientStats,
    _native.CloudStoragePackage,
    _native.FailedAttempt,
    _native.FailoverSettings,
    _native.HostStats,
    _native.IotCredentials,
    _native.LogRecord,
    _native.LoginResult,
    _native.OpenPackageRequest,
    _native.RegionMapping,
    _native.RegisteredAccount,
    _native.RestToken,
    _native.IotEvent.REFRESHED,
    _native.IotEvent.REFRESH_FAILED,
    _native.IotEvent.LOGIN_REQUIRED,
    _native.RegionalStep.OFF,
    _native.RegionalStep.ADJACENT,
    _native.RegionalStep.HOSTS,
]


#: Fields that are identifiers, not secrets, yet shown masked in ``repr``/``str`` (as the CLI and the
#: quickstarts print them): the first 4 characters and the length, e.g. ``'ASIA…(20)'``.
#: ``to_dict()`` gives their full value (data for programs).
MASKED_IN_REPR = {"access_key_id"}


def _shown(name: str, value: Any) -> str:
    if name in MASKED_IN_REPR and isinstance(value, str):
        return repr(_native.Secret(value).masked())
    return repr(value)


def _field_names(cls: type) -> List[str]:
    parameters = inspect.signature(cls.__init__).parameters
    return [name for name in parameters if name != "self"]


def _plain(value: Any, reveal: bool) -> Any:
    """A JSON-ready form of a field: records as dicts, enums by name, secrets masked."""
    if isinstance(value, _native.Secret):
        return value.reveal() if reveal else "***"
    if hasattr(value, "to_dict"):
        return value.to_dict(reveal=reveal)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain(item, reveal) for item in value]
    return value


def _variant_name(cls: type) -> str:
    qualified = cls.__qualname__
    return qualified if "." in qualified else cls.__name__


def _install_record(cls: type) -> None:
    names = _field_names(cls)
    label = _variant_name(cls)

    def __repr__(self: Any) -> str:
        fields = ", ".join(f"{name}={_shown(name, getattr(self, name))}" for name in names)
        return f"{label}({fields})"

    def __eq__(self: Any, other: Any) -> Any:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in names)

    def to_dict(self: Any, reveal: bool = False) -> Dict[str, Any]:
        """The fields as plain values (nested records as dicts, enums by name), ready for
        ``json.dumps``. Secrets are ``"***"`` unless ``reveal=True``; identifiers such as the AWS
        access key id are given in full (``repr`` masks them)."""
        return {name: _plain(getattr(self, name), reveal) for name in names}

    cls.__repr__ = __repr__  # type: ignore[method-assign]
    cls.__str__ = __repr__  # type: ignore[method-assign]
    cls.__eq__ = __eq__  # type: ignore[method-assign]
    cls.__hash__ = None  # type: ignore[assignment]  # mutable records, as dataclasses
    cls.to_dict = to_dict  # type: ignore[attr-defined]
    # dataclasses.fields / asdict / replace see the fields (the generated __init__ stays).
    cls.__annotations__ = {name: typing.Any for name in names}
    dataclasses.dataclass(init=False, repr=False, eq=False)(cls)


def _install_secret() -> None:
    secret = _native.Secret

    def __eq__(self: Any, other: Any) -> Any:
        if not isinstance(other, secret):
            return NotImplemented
        return hmac.compare_digest(self.reveal().encode(), other.reveal().encode())

    def __hash__(self: Any) -> int:
        return hash(("agora_link.Secret", self.reveal()))

    secret.__eq__ = __eq__  # type: ignore[method-assign]
    secret.__hash__ = __hash__  # type: ignore[method-assign]
    # A secret is immutable: copies (dataclasses.asdict deep-copies fields) share the native
    # object instead of duplicating its handle.
    secret.__copy__ = lambda self: self  # type: ignore[attr-defined]
    secret.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]
    # Pickled by value (a native handle means nothing in another process): records holding
    # secrets cross ProcessPoolExecutor/multiprocessing. The pickle holds the secret in clear.
    secret.__reduce__ = lambda self: (secret, (self.reveal(),))  # type: ignore[method-assign]


def _refuse_pickling(cls: Any) -> None:
    """Clients, configurations and IoT providers hold a native handle, valid in this process
    only: pickling or copying one raises ``TypeError`` (it used to copy the raw handle, which
    crashed the process that unpickled it and freed the object twice)."""

    def refuse(self: Any, *args: Any) -> Any:
        raise TypeError(
            f"{cls.__name__} cannot be pickled or copied: it holds a native object of this "
            "process; make one in each process (or share this one between threads)"
        )

    cls.__reduce__ = refuse
    cls.__reduce_ex__ = refuse
    cls.__copy__ = refuse
    cls.__deepcopy__ = refuse


def install() -> None:
    """Adds the methods above to the generated classes (once, at import)."""
    for cls in RECORDS:
        _install_record(cls)
    _install_secret()
    for value in vars(_native).values():
        if isinstance(value, type) and hasattr(value, "_uniffi_clone_handle") and value is not _native.Secret:
            _refuse_pickling(value)
