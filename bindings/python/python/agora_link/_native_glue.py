"""What makes the generated binding behave like a Python library: Ctrl-C in blocking calls,
``with``/``close()``, and log records in :mod:`logging`. Installed once by ``__init__``.

Ctrl-C. A blocking call made from the main thread runs as the async call it mirrors, driven here
without an event loop: the main thread waits on a lock in slices of 50 ms, so a SIGINT raises
``KeyboardInterrupt`` within one slice (the interpreter runs signal handlers only between
bytecodes, never inside a foreign call). The interrupted call is cancelled as its async twin is
when its task is cancelled: reads (token, packages, login, IoT URL) are aborted and their
connection closed; state changes (``open_package``, ``register_account``, ``remove_account``)
run to their end in the background, never half-sent. Other threads (which never receive
signals) call the blocking Rust function directly.

Async completions. UniFFI wakes an awaiting coroutine through a ``ctypes`` callback run on the
library thread that finished the work: that thread then waits for the GIL while the event loop
runs Python code, and every other call's I/O on it waits too. Instead, each event loop gets a
queue in the library (``src/uniffi_api/wake.rs``): the library's own native function queues the
notice and writes a byte to a socket the loop watches (``loop.add_reader``); the loop takes every
notice at once and resolves its futures itself. No library thread enters Python for a call. A
loop the library has no queue for (every queue taken, a loop without ``add_reader``, a loop set
with ``uniffi_set_event_loop`` and running on another thread) keeps UniFFI's callback.

Logging. Records go to the ``agora_link`` logger (a ``NullHandler`` on it, as libraries do:
nothing prints unless the application configures logging). The SDK forwards only records at or
above that logger's effective level, and follows changes to it (``setLevel`` on it or on an
ancestor, ``logging.disable``), so a disabled level costs one atomic load in the library and
never enters Python. ``set_log_listener`` replaces this bridge; ``clear_log_listener`` stops it.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import itertools
import logging
import os
import threading
import weakref
from typing import Any, Callable, Coroutine, Dict, Optional, Tuple

from ._native import agora_link as _gen

_SLICE_SECONDS = 0.05


class _Future:
    """The one awaitable the generated coroutine waits on (its "event loop" future)."""

    __slots__ = ("_ready", "_result", "_cancelled")

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._result: Any = None
        self._cancelled = False

    def cancelled(self) -> bool:
        return self._cancelled

    def set_result(self, result: Any) -> None:
        self._result = result
        self._ready.release()

    def __await__(self) -> Any:
        yield self
        return self._result


class _Waiter:
    """Stands in for the event loop while a blocking call is driven on the main thread: the
    library's completion callback (on a library thread) releases the future's lock."""

    __slots__ = ()

    def create_future(self) -> _Future:
        return _Future()

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        callback(*args)


_WAITER = _Waiter()
_driving = threading.local()


def _drive(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs a generated coroutine to its end on this thread, interruptible by signals."""
    _driving.loop = _WAITER
    try:
        try:
            future = coroutine.send(None)
        except StopIteration as done:
            return done.value
        while True:
            try:
                while not future._ready.acquire(timeout=_SLICE_SECONDS):
                    pass
            except BaseException:
                # KeyboardInterrupt (or another signal handler's exception): cancel the call
                # (the generated code frees the Rust future, which aborts a read) and re-raise.
                future._cancelled = True
                coroutine.close()
                raise
            try:
                future = coroutine.send(None)
            except StopIteration as done:
                return done.value
    finally:
        _driving.loop = None


def _event_loop_for_this_thread(original: Callable[[], Any]) -> Callable[[], Any]:
    def event_loop() -> Any:
        loop = getattr(_driving, "loop", None)
        return loop if loop is not None else original()

    return event_loop


def _interruptible(cls: type, blocking_name: str) -> None:
    direct = getattr(cls, blocking_name)
    twin = getattr(cls, blocking_name[: -len("_blocking")])

    @functools.wraps(direct)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return direct(self, *args, **kwargs)
        return _drive(twin(self, *args, **kwargs))

    setattr(cls, blocking_name, call)


def _install_interruptible_calls() -> None:
    _gen._uniffi_get_event_loop = _event_loop_for_this_thread(_gen._uniffi_get_event_loop)
    for cls in (_gen.AgoraLinkClient, _gen.IotProvider):
        for name in list(vars(cls)):
            if name.endswith("_blocking") and hasattr(cls, name[: -len("_blocking")]):
                _interruptible(cls, name)


_POLL_READY = 0
_SLOT_BITS = 40
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_NOTICES = 256
# Slots are unique in the process (not per loop): a late notice for a finished call never
# matches a call in flight, whichever queue it lands in.
_SLOTS = itertools.count(1)


class _Claim:
    """A queue id as the library handed it out: given back once, and only by the process that
    claimed it (a forked child's library has forgotten its parent's queues, and the id may be a
    queue of the child's own by then). Holds nothing else, so that the finalizer holding it
    keeps no loop, future or coroutine alive."""

    __slots__ = ("id", "pid", "released")

    def __init__(self, queue_id: int) -> None:
        self.id = queue_id
        self.pid = os.getpid()
        self.released = False

    def release(self) -> None:
        if not self.released and os.getpid() == self.pid:
            self.released = True
            _WAKE.free(self.id)


class _WakeQueue:
    """An event loop's queue of completion notices in the library: ``futures`` maps each slot
    in flight to the future its coroutine awaits. Kept alive by the loop alone (its reader
    callback), so that a loop dropped with calls in flight is collected with them, and their
    coroutines' ``finally`` frees their Rust futures."""

    __slots__ = ("id", "base", "fd", "futures", "buffer", "claim", "__weakref__")

    def __init__(self, claim: _Claim, fd: int) -> None:
        self.id = claim.id
        self.base = (claim.id - 1) << _SLOT_BITS
        self.fd = fd
        self.futures: Dict[int, Any] = {}
        self.buffer = (ctypes.c_uint64 * _NOTICES)()
        self.claim = claim

    def drain(self) -> None:
        """The loop's reader callback: reads the wake-up bytes, then resolves every future
        whose notice is queued."""
        try:
            while len(os.read(self.fd, 4096)) == 4096:
                pass
        except (BlockingIOError, InterruptedError):
            pass
        drain, buffer, futures = _WAKE.drain, self.buffer, self.futures
        while True:
            count = drain(self.id, buffer, _NOTICES)
            for notice in buffer[:count]:
                future = futures.pop(notice >> 1, None)
                if future is not None and not future.done():
                    future.set_result(notice & 1)
            if count < _NOTICES:
                return


class _WakeFunctions:
    """The library's queue functions (``ctypes``), when it has them."""

    def __init__(self, lib: Any) -> None:
        self.new = lib.agora_link_py_wake_queue_new
        self.new.argtypes = [ctypes.POINTER(ctypes.c_int32)]
        self.new.restype = ctypes.c_uint32
        self.free = lib.agora_link_py_wake_queue_free
        self.free.argtypes = [ctypes.c_uint32]
        self.free.restype = None
        self.drain = lib.agora_link_py_wake_queue_drain
        self.drain.argtypes = [ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        self.drain.restype = ctypes.c_size_t
        address = ctypes.cast(lib.agora_link_py_continuation, ctypes.c_void_p).value
        self.continuation = _gen._UNIFFI_RUST_FUTURE_CONTINUATION_CALLBACK(address)


_WAKE: Any = None
#: Each event loop's claim and queue (a weak reference: the loop's reader keeps the queue
#: alive), or None for a loop that cannot watch a descriptor. Weak keys: a loop that is gone is
#: forgotten, and its finalizer gives the queue back. Written under _QUEUES_LOCK.
_QUEUES: "weakref.WeakKeyDictionary[Any, Optional[Tuple[_Claim, weakref.ref[_WakeQueue]]]]" = (
    weakref.WeakKeyDictionary())
_QUEUES_LOCK = threading.Lock()
_MISSING = object()


def _queue_of(loop: Any) -> Optional[_WakeQueue]:
    """The queue ``loop`` holds, if any."""
    entry = _QUEUES.get(loop)
    return entry[1]() if entry is not None else None


def _queue_for(loop: Any) -> Optional[_WakeQueue]:
    if asyncio._get_running_loop() is not loop:
        return None  # the blocking driver's _Waiter, or a loop running on another thread
    try:
        entry = _QUEUES.get(loop, _MISSING)
    except TypeError:
        return None  # a loop without weak references
    if entry is not _MISSING:
        return entry[1]() if entry is not None else None  # type: ignore[index]
    fd = ctypes.c_int32(-1)
    queue_id = _WAKE.new(ctypes.byref(fd))
    if queue_id == 0 and _release_closed_loops():
        queue_id = _WAKE.new(ctypes.byref(fd))
    if queue_id == 0:
        return None  # every queue taken (or being claimed): UniFFI's callback, this time
    queue = _WakeQueue(_Claim(queue_id), fd.value)
    try:
        loop.add_reader(fd.value, queue.drain)
    except (NotImplementedError, TypeError, ValueError, RuntimeError, OSError):
        queue.claim.release()
        with _QUEUES_LOCK:
            _QUEUES[loop] = None
        return None
    with _QUEUES_LOCK:
        _QUEUES[loop] = (queue.claim, weakref.ref(queue))
    weakref.finalize(loop, queue.claim.release)
    return queue


def _release_closed_loops() -> bool:
    """Gives back the queues of loops that are closed but not collected (an application may
    keep a closed loop referenced); true if any was."""
    released = False
    try:
        with _QUEUES_LOCK:
            entries = list(_QUEUES.items())
        for loop, entry in entries:
            if entry is not None and not entry[0].released and loop.is_closed():
                entry[0].release()
                with _QUEUES_LOCK:
                    _QUEUES[loop] = None
                released = True
    except Exception:  # noqa: BLE001 - a sweep that fails only means no queue this time
        pass
    return released


def _forget_queues() -> None:
    """In a forked child: its loops get queues of their own (the library forgot the parent's),
    and the lock may have been held by a thread that does not exist here."""
    global _QUEUES_LOCK
    _QUEUES_LOCK = threading.Lock()
    _QUEUES.clear()


async def _rust_call_async(rust_future: Any, ffi_poll: Any, ffi_complete: Any, ffi_free: Any,
                           lift_func: Any, error_ffi_converter: Any) -> Any:
    """UniFFI's ``_uniffi_rust_call_async`` with the library's queue as the continuation."""
    try:
        loop = _gen._uniffi_get_event_loop()
        queue = _queue_for(loop)
    except BaseException:
        ffi_free(rust_future)  # no running loop (trio, a coroutine driven by hand): as UniFFI does
        raise
    if queue is None:
        return await _UNIFFI_RUST_CALL_ASYNC(rust_future, ffi_poll, ffi_complete, ffi_free,
                                             lift_func, error_ffi_converter)
    futures, continuation, base = queue.futures, _WAKE.continuation, queue.base
    slot = 0
    try:
        while True:
            slot = next(_SLOTS) & _SLOT_MASK
            future = loop.create_future()
            futures[slot] = future
            ffi_poll(rust_future, continuation, base | slot)
            if await future == _POLL_READY:
                break
        return lift_func(_gen._uniffi_rust_call_with_error(error_ffi_converter, ffi_complete,
                                                           rust_future))
    finally:
        futures.pop(slot, None)
        ffi_free(rust_future)


_UNIFFI_RUST_CALL_ASYNC = _gen._uniffi_rust_call_async


def _install_fd_wakeups() -> None:
    global _WAKE
    try:
        _WAKE = _WakeFunctions(_gen._UniffiLib)
    except AttributeError:
        return  # a library without the queue functions (not a Unix build)
    _gen._uniffi_rust_call_async = _rust_call_async
    # A forked child's loops get queues of their own (the library forgets the parent's).
    os.register_at_fork(after_in_child=_forget_queues)


def _install_context_manager() -> None:
    cls = _gen.AgoraLinkClient

    def close(self: Any) -> None:
        """Closes the client: pooled connections and the cached token are dropped and later
        calls raise ``ShutdownError`` ("the client is closed"). Idempotent."""
        self.shutdown()

    def enter(self: Any) -> Any:
        return self

    def exit_(self: Any, *exc_info: Any) -> None:
        self.shutdown()

    async def aenter(self: Any) -> Any:
        return self

    async def aexit(self: Any, *exc_info: Any) -> None:
        self.shutdown()

    cls.close = close
    cls.closed = property(lambda self: self.is_shut_down(), doc="Whether ``close()`` was called.")
    cls.__enter__ = enter
    cls.__exit__ = exit_
    cls.__aenter__ = aenter
    cls.__aexit__ = aexit


# logging's numeric levels → the SDK's (None: nothing forwarded).
def _sdk_level(python_level: int) -> Optional[Any]:
    if python_level <= 5:
        return _gen.LogLevel.TRACE
    if python_level <= logging.DEBUG:
        return _gen.LogLevel.DEBUG
    if python_level <= logging.INFO:
        return _gen.LogLevel.INFO
    if python_level <= logging.WARNING:
        return _gen.LogLevel.WARN
    if python_level <= logging.CRITICAL:
        return _gen.LogLevel.ERROR
    return None


_PYTHON_LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
}


class _LoggingBridge(_gen.LogListener):
    """Hands each forwarded record to the ``agora_link`` logger (or to the logger named by the
    record's target, ``agora_link.transport`` for ``agora_link::transport``)."""

    def log(self, record: Any) -> None:
        level = _PYTHON_LEVELS.get(record.level.name, logging.ERROR)
        logger = logging.getLogger(record.target.replace("::", "."))
        if logger.isEnabledFor(level):
            logger.log(level, "%s", record.message)


def _lowest_enabled_level(logger: logging.Logger) -> int:
    """The lowest level at which ``logger`` or one of its descendants emits (a child may be
    set lower than ``agora_link`` itself)."""
    lowest = logger.getEffectiveLevel()
    prefix = logger.name + "."
    for name, child in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(prefix) and isinstance(child, logging.Logger):
            lowest = min(lowest, child.getEffectiveLevel())
    disabled = logging.root.manager.disable
    return lowest if lowest > disabled else disabled + 1


class _LevelWatch(dict):  # type: ignore[type-arg]
    """Replaces the logger's level cache: ``logging`` clears every logger's cache whenever a
    level changes anywhere (``setLevel``, ``logging.disable``), which is when the SDK's
    threshold must follow."""

    def clear(self) -> None:
        super().clear()
        _sync_level()


_LOGGER = logging.getLogger("agora_link")

#: Whether the bridge is the installed listener (a listener of the application's own replaces it,
#: and then the level is the application's to set).
_bridge_installed = False


def _sync_level() -> None:
    if not _bridge_installed:
        return
    try:
        _gen.set_log_level(_sdk_level(_lowest_enabled_level(_LOGGER)))
    except Exception:  # noqa: BLE001 - logging configuration must never fail because of us
        pass


def _install_logging() -> bool:
    global _bridge_installed
    if not any(isinstance(handler, logging.NullHandler) for handler in _LOGGER.handlers):
        _LOGGER.addHandler(logging.NullHandler())
    try:
        _gen.set_log_listener(_LoggingBridge(), _gen.LogLevel.ERROR)
    except Exception:  # noqa: BLE001 - another tracing subscriber owns the process
        return False
    _bridge_installed = True
    if isinstance(getattr(_LOGGER, "_cache", None), dict):  # (a _LevelWatch is a dict)
        if not isinstance(_LOGGER._cache, _LevelWatch):  # type: ignore[attr-defined]
            _LOGGER._cache = _LevelWatch()  # type: ignore[attr-defined]
        _sync_level()
    else:  # not CPython's logging: forward everything, filter in Python
        _gen.set_log_level(_gen.LogLevel.TRACE)
    return True


def use_python_logging() -> bool:
    """Sends the SDK's records to the ``agora_link`` logger again (as at import), replacing a
    listener installed with :func:`set_log_listener`. False if another ``tracing`` subscriber
    owns the process."""
    return _install_logging()


def set_log_listener(listener: Any, min_level: Any) -> None:
    """Sends the SDK's records at ``min_level`` and above to ``listener`` (a ``LogListener``),
    replacing the ``logging`` bridge until :func:`use_python_logging`; the level is then yours
    to change (``set_log_level``), ``logging`` configuration no longer touches it."""
    global _bridge_installed
    _gen.set_log_listener(listener, min_level)
    _bridge_installed = isinstance(listener, _LoggingBridge)


def clear_log_listener() -> None:
    """Stops forwarding records (the ``logging`` bridge included, until
    :func:`use_python_logging`)."""
    global _bridge_installed
    _bridge_installed = False
    _gen.clear_log_listener()


def install() -> None:
    _install_fd_wakeups()
    _install_interruptible_calls()
    _install_context_manager()
    _install_logging()
