#!/usr/bin/env python3
"""Makes the async calls of UniFFI's generated Swift cancellable (used by scripts/gen-swift).

UniFFI 0.32 awaits a Rust future from Swift with a non-cancellable continuation, and its
`uniffiCheckCallStatus` stops the process (`fatalError`) on `CALL_CANCELLED`: cancelling the
Swift `Task` never reaches Rust, and the awaiting code waits for the whole exchange. Kotlin and
Python drop the Rust future when their caller is cancelled (mozilla/uniffi-rs#2771 tracks the
same for Swift). This rewrites three places of the generated AgoraLink.swift, and fails loudly
if any of them is not found (a new UniFFI version must be looked at, not silently left
uncancellable):

1. `uniffiRustCallAsync` polls inside `withTaskCancellationHandler`; cancelling the task calls
   the future's `ffi_*_rust_future_cancel_*` function, which wakes the poll loop at once.
2. Every call site passes that cancel function, named after its free function.
3. `CALL_CANCELLED` (the future was cancelled before it had a result) throws Swift's
   `CancellationError` instead of `fatalError`.

Every async export of agora-link is cancel-safe: the work runs as a task on the library's own
runtime and the future awaited here only waits for it, so dropping it drops the wait, never a
request half-sent (an order already sent completes on the server, once).

    python3 scripts/lib/swift-cancellation.py AgoraLink.swift   # rewrites the file in place
"""

from __future__ import annotations

import re
import sys

MARKER = "// agora-link: Task cancellation (scripts/lib/swift-cancellation.py)"

POLL_LOOP = """    var pollResult: Int8;
    repeat {
        pollResult = await withUnsafeContinuation {
            pollFunc(
                rustFuture,
                { handle, pollResult in
                    uniffiFutureContinuationCallback(handle: handle, pollResult: pollResult)
                },
                uniffiContinuationHandleMap.insert(obj: $0)
            )
        }
    } while pollResult != UNIFFI_RUST_FUTURE_POLL_READY
"""

CANCELLABLE_POLL_LOOP = f"""    {MARKER}:
    // cancelling the Task cancels the Rust future, which wakes this loop with READY; `complete`
    // then reports CALL_CANCELLED (thrown as CancellationError) unless the result was already in.
    await withTaskCancellationHandler {{
        var pollResult: Int8;
        repeat {{
            pollResult = await withUnsafeContinuation {{
                pollFunc(
                    rustFuture,
                    {{ handle, pollResult in
                        uniffiFutureContinuationCallback(handle: handle, pollResult: pollResult)
                    }},
                    uniffiContinuationHandleMap.insert(obj: $0)
                )
            }}
        }} while pollResult != UNIFFI_RUST_FUTURE_POLL_READY
    }} onCancel: {{
        cancelFunc(rustFuture)
    }}
"""

SIGNATURE = """    freeFunc: (UInt64) -> (),
    liftFunc: (F) throws -> T,"""

CANCELLABLE_SIGNATURE = """    freeFunc: (UInt64) -> (),
    cancelFunc: @escaping @Sendable (UInt64) -> (),
    liftFunc: (F) throws -> T,"""

FATAL = """        case CALL_CANCELLED:
            fatalError("Cancellation not supported yet")"""

THROW = f"""        case CALL_CANCELLED:
            {MARKER}
            throw CancellationError()"""

CALL_SITE = re.compile(
    r"^(?P<indent>[ \t]*)freeFunc: (?P<prefix>ffi_\w+_rust_future_)free_(?P<type>\w+),\n",
    re.MULTILINE,
)


def replace_once(text: str, old: str, new: str, what: str) -> str:
    count = text.count(old)
    if count != 1:
        sys.exit(f"swift-cancellation: expected one {what} in the generated Swift, found {count}")
    return text.replace(old, new)


def patch(text: str) -> str:
    if MARKER in text:
        sys.exit("swift-cancellation: the file is already patched")
    text = replace_once(text, POLL_LOOP, CANCELLABLE_POLL_LOOP, "uniffiRustCallAsync poll loop")
    text = replace_once(text, SIGNATURE, CANCELLABLE_SIGNATURE, "uniffiRustCallAsync signature")
    text = replace_once(text, FATAL, THROW, "CALL_CANCELLED fatalError")
    text, sites = CALL_SITE.subn(
        # A closure literal (not the C function itself) so that it is inferred `@Sendable`.
        lambda m: f"{m.group(0)}{m.group('indent')}cancelFunc: {{ {m.group('prefix')}cancel_{m.group('type')}($0) }},\n",
        text,
    )
    calls = text.count("await uniffiRustCallAsync(")
    if sites == 0 or sites != calls:
        sys.exit(f"swift-cancellation: {calls} async calls but {sites} free functions to pair with a cancel")
    return text


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: swift-cancellation.py AgoraLink.swift")
    path = sys.argv[1]
    with open(path, encoding="utf-8") as source:
        text = source.read()
    with open(path, "w", encoding="utf-8") as target:
        target.write(patch(text))


if __name__ == "__main__":
    main()
