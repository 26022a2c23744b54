//! The C ABI: a thin adapter over the Rust core for C and C++ hosts (feature `capi`).
//!
//! Conventions, for every function of this module:
//!
//! * Every symbol and type is prefixed `agora_link_` / `AGORA_LINK_`.
//! * Handles are opaque. Every `_new` has a `_free`; `_free(NULL)` is a no-op.
//! * Inputs first, outputs last. Outputs (`*_out`) are written only on success; an
//!   `agora_link_error **error_out` is written only on failure, may be NULL when the caller does
//!   not want details, and the error it receives is freed with `agora_link_error_free`.
//! * Strings passed in are NUL-terminated UTF-8, borrowed for the duration of the call. Strings
//!   returned inside results are borrowed from the result and valid until it is freed; the only
//!   strings the caller owns (`char *`) are freed with `agora_link_string_free`.
//! * No function unwinds into C: a panic is caught and reported as `AGORA_LINK_ERROR_PANIC`
//!   (in builds with `panic = "unwind"`; the `firmware` profile aborts the process instead).
//!   NULL where a pointer is required gives `AGORA_LINK_ERROR_NULL_POINTER`, bad UTF-8
//!   `AGORA_LINK_ERROR_INVALID_UTF8`.
//! * Blocking calls run on the library runtime and block the calling thread. Made from a library
//!   thread (inside a completion callback) they return `AGORA_LINK_ERROR_WOULD_DEADLOCK`.

#![allow(non_camel_case_types)]

mod client;
mod config;
mod failover;
mod iot;
mod results;

use std::any::Any;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

pub use client::*;
pub use config::*;
pub use failover::*;
pub use iot::*;
pub use results::*;

/// The outcome of a call. Values are stable: new codes are only ever appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum agora_link_result {
    /// Success.
    AGORA_LINK_OK = 0,
    /// An argument is invalid (empty string, out-of-range number, bad address).
    AGORA_LINK_ERROR_INVALID_ARGUMENT = 1,
    /// A required pointer argument was NULL.
    AGORA_LINK_ERROR_NULL_POINTER = 2,
    /// A string argument was not valid UTF-8.
    AGORA_LINK_ERROR_INVALID_UTF8 = 3,
    /// The configuration is invalid (bad URL, plain HTTP to a remote host, bad PEM).
    AGORA_LINK_ERROR_CONFIG = 4,
    /// The server could not be reached, or the connection failed.
    AGORA_LINK_ERROR_NETWORK = 5,
    /// The connect or request timeout expired.
    AGORA_LINK_ERROR_TIMEOUT = 6,
    /// The TLS handshake failed (unknown CA, wrong host name).
    AGORA_LINK_ERROR_TLS = 7,
    /// Credentials or token refused (HTTP 401, code 401, or a refused token grant).
    AGORA_LINK_ERROR_AUTH = 8,
    /// The server answered with a non-zero code; see the error's server code and message.
    AGORA_LINK_ERROR_API = 9,
    /// The response could not be decoded, or was too large.
    AGORA_LINK_ERROR_DECODE = 10,
    /// A blocking call was made from a library thread (e.g. inside a callback).
    AGORA_LINK_ERROR_WOULD_DEADLOCK = 11,
    /// A bug: the library panicked. The call had no effect on the caller's objects.
    AGORA_LINK_ERROR_PANIC = 12,
    /// The asynchronous call was cancelled (by `agora_link_call_cancel` or by shutdown).
    AGORA_LINK_ERROR_CANCELLED = 13,
    /// The library was shut down with `agora_link_shutdown`.
    AGORA_LINK_ERROR_SHUTDOWN = 14,
    /// A caller's buffer is too small; the size needed was reported.
    AGORA_LINK_ERROR_BUFFER_TOO_SMALL = 15,
}

use agora_link_result::*;

impl agora_link_result {
    fn name(self) -> &'static CStr {
        match self {
            AGORA_LINK_OK => c"AGORA_LINK_OK",
            AGORA_LINK_ERROR_INVALID_ARGUMENT => c"AGORA_LINK_ERROR_INVALID_ARGUMENT",
            AGORA_LINK_ERROR_NULL_POINTER => c"AGORA_LINK_ERROR_NULL_POINTER",
            AGORA_LINK_ERROR_INVALID_UTF8 => c"AGORA_LINK_ERROR_INVALID_UTF8",
            AGORA_LINK_ERROR_CONFIG => c"AGORA_LINK_ERROR_CONFIG",
            AGORA_LINK_ERROR_NETWORK => c"AGORA_LINK_ERROR_NETWORK",
            AGORA_LINK_ERROR_TIMEOUT => c"AGORA_LINK_ERROR_TIMEOUT",
            AGORA_LINK_ERROR_TLS => c"AGORA_LINK_ERROR_TLS",
            AGORA_LINK_ERROR_AUTH => c"AGORA_LINK_ERROR_AUTH",
            AGORA_LINK_ERROR_API => c"AGORA_LINK_ERROR_API",
            AGORA_LINK_ERROR_DECODE => c"AGORA_LINK_ERROR_DECODE",
            AGORA_LINK_ERROR_WOULD_DEADLOCK => c"AGORA_LINK_ERROR_WOULD_DEADLOCK",
            AGORA_LINK_ERROR_PANIC => c"AGORA_LINK_ERROR_PANIC",
            AGORA_LINK_ERROR_CANCELLED => c"AGORA_LINK_ERROR_CANCELLED",
            AGORA_LINK_ERROR_SHUTDOWN => c"AGORA_LINK_ERROR_SHUTDOWN",
            AGORA_LINK_ERROR_BUFFER_TOO_SMALL => c"AGORA_LINK_ERROR_BUFFER_TOO_SMALL",
        }
    }

    const ALL: [agora_link_result; 16] = [
        AGORA_LINK_OK,
        AGORA_LINK_ERROR_INVALID_ARGUMENT,
        AGORA_LINK_ERROR_NULL_POINTER,
        AGORA_LINK_ERROR_INVALID_UTF8,
        AGORA_LINK_ERROR_CONFIG,
        AGORA_LINK_ERROR_NETWORK,
        AGORA_LINK_ERROR_TIMEOUT,
        AGORA_LINK_ERROR_TLS,
        AGORA_LINK_ERROR_AUTH,
        AGORA_LINK_ERROR_API,
        AGORA_LINK_ERROR_DECODE,
        AGORA_LINK_ERROR_WOULD_DEADLOCK,
        AGORA_LINK_ERROR_PANIC,
        AGORA_LINK_ERROR_CANCELLED,
        AGORA_LINK_ERROR_SHUTDOWN,
        AGORA_LINK_ERROR_BUFFER_TOO_SMALL,
    ];
}

/// The details of a failed call. Owned by whoever received it; free it with
/// `agora_link_error_free`. Immutable, so it may be read from any thread.
pub struct agora_link_error {
    result: agora_link_result,
    message: CString,
    server_code: i64,
    server_message: Option<CString>,
    http_status: u16,
    trace_id: Option<CString>,
    attempts: Vec<(CString, u32)>,
    may_have_been_sent: bool,
}

/// A failure inside the adapter, before it becomes an `agora_link_error` object.
pub(crate) struct FfiError {
    result: agora_link_result,
    message: String,
    server_code: i64,
    server_message: Option<String>,
    http_status: u16,
    trace_id: Option<String>,
    attempts: Vec<(String, u32)>,
    may_have_been_sent: bool,
}

impl FfiError {
    pub(crate) fn new(result: agora_link_result, message: impl Into<String>) -> Self {
        Self {
            result,
            message: message.into(),
            server_code: 0,
            server_message: None,
            http_status: 0,
            trace_id: None,
            attempts: Vec::new(),
            // An adapter failure is decided before the call runs, except a cancelled or
            // interrupted one, which may have been on the wire.
            may_have_been_sent: matches!(
                result,
                AGORA_LINK_ERROR_CANCELLED | AGORA_LINK_ERROR_SHUTDOWN | AGORA_LINK_ERROR_PANIC
            ),
        }
    }

    pub(crate) fn null(name: &str) -> Self {
        Self::new(
            AGORA_LINK_ERROR_NULL_POINTER,
            format!("{name} must not be NULL"),
        )
    }

    pub(crate) fn cancelled() -> Self {
        Self::new(AGORA_LINK_ERROR_CANCELLED, "the call was cancelled")
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send>) -> Self {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Self::new(
            AGORA_LINK_ERROR_PANIC,
            format!("internal error (panic): {detail}"),
        )
    }

    pub(crate) fn into_object(self) -> Box<agora_link_error> {
        Box::new(agora_link_error {
            result: self.result,
            message: cstring(&self.message),
            server_code: self.server_code,
            server_message: self.server_message.as_deref().map(cstring),
            http_status: self.http_status,
            trace_id: self.trace_id.as_deref().map(cstring),
            attempts: self
                .attempts
                .iter()
                .map(|(host, failure)| (cstring(host), *failure))
                .collect(),
            may_have_been_sent: self.may_have_been_sent,
        })
    }
}

impl From<Error> for FfiError {
    fn from(error: Error) -> Self {
        let result = match error.kind() {
            ErrorKind::Config => AGORA_LINK_ERROR_CONFIG,
            ErrorKind::InvalidArgument => AGORA_LINK_ERROR_INVALID_ARGUMENT,
            ErrorKind::Network => AGORA_LINK_ERROR_NETWORK,
            ErrorKind::Timeout => AGORA_LINK_ERROR_TIMEOUT,
            ErrorKind::Tls => AGORA_LINK_ERROR_TLS,
            ErrorKind::Auth => AGORA_LINK_ERROR_AUTH,
            ErrorKind::Api => AGORA_LINK_ERROR_API,
            ErrorKind::Decode => AGORA_LINK_ERROR_DECODE,
            ErrorKind::Shutdown => AGORA_LINK_ERROR_SHUTDOWN,
            ErrorKind::WouldDeadlock => AGORA_LINK_ERROR_WOULD_DEADLOCK,
        };
        let api = error.api_error();
        Self {
            result,
            message: error.to_string(),
            server_code: api.map_or(0, |a| a.code),
            server_message: api.map(|a| a.msg.clone()),
            http_status: error.http_status().unwrap_or(0),
            trace_id: error.trace_id().map(str::to_owned),
            attempts: error
                .attempts()
                .iter()
                .map(|a| (a.host.clone(), failover::failure_code(Some(a.failure))))
                .collect(),
            may_have_been_sent: error.request_may_have_been_sent(),
        }
    }
}

/// A `CString` from any text: interior NUL bytes (never valid in the API) become U+FFFD.
pub(crate) fn cstring(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// Runs `body` with panics caught; on failure writes an error object to `error_out` (if not
/// NULL) and returns its code.
pub(crate) fn guard(
    error_out: *mut *mut agora_link_error,
    body: impl FnOnce() -> Result<(), FfiError>,
) -> agora_link_result {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return AGORA_LINK_OK,
        Ok(Err(error)) => error,
        Err(payload) => FfiError::panic(payload),
    };
    let result = failure.result;
    if !error_out.is_null() {
        // Building the error object allocates; never let that unwind either.
        if let Ok(object) = catch_unwind(AssertUnwindSafe(|| failure.into_object())) {
            // SAFETY: the caller passes either NULL (checked) or a writable pointer.
            unsafe { *error_out = Box::into_raw(object) };
        }
    }
    result
}

/// Runs a getter with panics caught, giving `fallback` on panic.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Reads a required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `pointer` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn str_arg<'a>(pointer: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if pointer.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-NULL, and NUL-terminated per the contract.
    unsafe { CStr::from_ptr(pointer) }.to_str().map_err(|_| {
        FfiError::new(
            AGORA_LINK_ERROR_INVALID_UTF8,
            format!("{name} is not valid UTF-8"),
        )
    })
}

/// Checks that an output pointer is not NULL.
pub(crate) fn require_out<T>(out: *mut *mut T, name: &str) -> Result<(), FfiError> {
    if out.is_null() {
        Err(FfiError::null(name))
    } else {
        Ok(())
    }
}

/// Moves `value` to the heap and writes it to `out` (checked non-NULL before).
pub(crate) fn write_out<T>(out: *mut *mut T, value: T) {
    // SAFETY: `out` was checked non-NULL by `require_out`, and is writable per the contract.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// Frees a `Box`ed handle; NULL is a no-op.
///
/// # Safety
/// `pointer` is NULL or came from `Box::into_raw` and was not freed before.
pub(crate) unsafe fn free_box<T>(pointer: *mut T) {
    if !pointer.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: per the contract, a pointer this library returned and never freed.
            drop(unsafe { Box::from_raw(pointer) })
        }));
    }
}

/// The library version, e.g. `"0.1.0"`; equals `AGORA_LINK_VERSION_STRING`. Static storage: do
/// not free. Thread-safe.
#[no_mangle]
pub extern "C" fn agora_link_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(version) => version,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// The name of a result code, e.g. `"AGORA_LINK_ERROR_NETWORK"`, or `"AGORA_LINK_UNKNOWN"` for
/// a value this version does not know. Static storage: do not free. Thread-safe.
#[no_mangle]
pub extern "C" fn agora_link_result_name(result: i32) -> *const c_char {
    agora_link_result::ALL
        .iter()
        .find(|r| **r as i32 == result)
        .map_or(c"AGORA_LINK_UNKNOWN".as_ptr(), |r| r.name().as_ptr())
}

/// Sets the number of worker threads of the library runtime (default 2; a single-core device
/// may use 1). Only before the first call that uses the runtime; afterwards it returns
/// `AGORA_LINK_ERROR_INVALID_ARGUMENT`. Thread-safe. Name resolution runs on extra threads
/// started on demand, which exit after 10 s idle.
#[no_mangle]
pub extern "C" fn agora_link_set_worker_threads(count: u32) -> agora_link_result {
    guard(ptr::null_mut(), || {
        crate::runtime::set_worker_threads(count as usize).map_err(FfiError::from)
    })
}

/// Sets the stack size of the library runtime's threads (its workers and the threads that run
/// blocking work such as name resolution), in bytes: 0 (the default, 2 MiB) or 65536 (64 KiB)
/// to 67108864 (64 MiB). The ARM tests run logins, concurrent calls, IoT renewal and MQTT with
/// 256 KiB. Only before the first call that uses the runtime: afterwards, or out of range, it
/// returns `AGORA_LINK_ERROR_INVALID_ARGUMENT`, and after `agora_link_shutdown`
/// `AGORA_LINK_ERROR_SHUTDOWN`. Thread-safe. Only the pages a thread touches become
/// resident; the size bounds the address space reserved per thread.
#[no_mangle]
pub extern "C" fn agora_link_set_thread_stack_size(bytes: usize) -> agora_link_result {
    guard(ptr::null_mut(), || {
        crate::runtime::set_thread_stack_size(bytes).map_err(FfiError::from)
    })
}

/// Stops the library runtime for a host that unloads the library: pending asynchronous calls
/// are cancelled (their callbacks receive `AGORA_LINK_ERROR_CANCELLED`, possibly on the calling
/// thread), and worker threads get up to `timeout_ms` to finish. Final: afterwards every call
/// returns `AGORA_LINK_ERROR_SHUTDOWN`. A second call is a no-op returning `AGORA_LINK_OK`.
/// It also drops the SigV4 signing keys that presigning caches, so that no key derived from a
/// secret stays in memory.
/// Called from a library thread (inside a callback) it returns
/// `AGORA_LINK_ERROR_WOULD_DEADLOCK`. Free handles before or after; both are safe.
#[no_mangle]
pub extern "C" fn agora_link_shutdown(timeout_ms: u32) -> agora_link_result {
    guard(ptr::null_mut(), || {
        crate::runtime::shutdown(Duration::from_millis(u64::from(timeout_ms)))
            .map(|_| ())
            .map_err(FfiError::from)
    })
}

/// Frees a string the library returned as `char *` (for example an order id). NULL is a no-op.
///
/// # Safety
/// `string` is NULL or a `char *` this library returned, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_string_free(string: *mut c_char) {
    if !string.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: per the contract, a string from `CString::into_raw`, never freed.
            let owned = unsafe { CString::from_raw(string) };
            // Returned strings can be secrets (order ids, presigned URLs): wipe them.
            zeroize::Zeroize::zeroize(&mut owned.into_bytes_with_nul());
        }));
    }
}

/// The result code of the failure. `AGORA_LINK_ERROR_NULL_POINTER` if `error` is NULL.
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_result(
    error: *const agora_link_error,
) -> agora_link_result {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }.map_or(AGORA_LINK_ERROR_NULL_POINTER, |e| e.result)
}

/// A human-readable description (never contains a secret). Borrowed from `error`; NULL if
/// `error` is NULL.
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_message(error: *const agora_link_error) -> *const c_char {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }.map_or(ptr::null(), |e| e.message.as_ptr())
}

/// The server's `code` for `AGORA_LINK_ERROR_API`/`AGORA_LINK_ERROR_AUTH` failures reported by
/// the server (e.g. 999999), or 0 when the server sent none.
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_server_code(error: *const agora_link_error) -> i64 {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }.map_or(0, |e| e.server_code)
}

/// The server's `msg`, borrowed from `error`, or NULL when the server sent none.
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_server_message(
    error: *const agora_link_error,
) -> *const c_char {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.server_message.as_ref())
        .map_or(ptr::null(), |m| m.as_ptr())
}

/// The HTTP status of the response, or 0 when there was no response.
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_http_status(error: *const agora_link_error) -> u16 {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }.map_or(0, |e| e.http_status)
}

/// The trace id of the failed cloud-storage request, borrowed from `error`, or NULL.
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_trace_id(
    error: *const agora_link_error,
) -> *const c_char {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }
        .and_then(|e| e.trace_id.as_ref())
        .map_or(ptr::null(), |t| t.as_ptr())
}

/// The number of failed attempts (hosts tried, in order) recorded in `error`; 0 when the first
/// answer was final or `error` is NULL.
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_attempt_count(error: *const agora_link_error) -> usize {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }.map_or(0, |e| e.attempts.len())
}

/// The host of attempt `index` (`"host"` or `"host:port"`), borrowed from `error`, and its
/// failure (`AGORA_LINK_FAILURE_*`) in `*failure_out` when not NULL. NULL when `index` is out
/// of range or `error` is NULL.
///
/// # Safety
/// `error` is NULL or a live error object; `failure_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_attempt(
    error: *const agora_link_error,
    index: usize,
    failure_out: *mut u32,
) -> *const c_char {
    // SAFETY: NULL or live, per the contract.
    let Some((host, failure)) = unsafe { error.as_ref() }.and_then(|e| e.attempts.get(index))
    else {
        return ptr::null();
    };
    if !failure_out.is_null() {
        // SAFETY: non-NULL (checked) and writable, per the contract.
        unsafe { *failure_out = *failure };
    }
    host.as_ptr()
}

/// 0 only when no attempt of the failed call can have reached a server: it was refused before
/// sending (invalid argument, configuration, would deadlock), or every attempt failed before a
/// byte of the request went out (DNS, connection refused, connect timeout, TLS handshake,
/// proxy). 1 otherwise: an answer arrived, or a connection broke or stalled after the request
/// may have been written, or the call was cancelled or cut by `agora_link_shutdown` in flight.
/// For `agora_link_client_open_package`, 1 means the order may exist: look before buying again.
/// 0 when `error` is NULL. Thread-safe (reads an immutable object).
///
/// # Safety
/// `error` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_may_have_been_sent(
    error: *const agora_link_error,
) -> bool {
    // SAFETY: NULL or live, per the contract.
    unsafe { error.as_ref() }.is_some_and(|e| e.may_have_been_sent)
}

/// Frees an error object. NULL is a no-op.
///
/// # Safety
/// `error` is NULL or an error object received from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_error_free(error: *mut agora_link_error) {
    // SAFETY: forwarded contract.
    unsafe { free_box(error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_code_and_an_error_object() {
        let mut error: *mut agora_link_error = ptr::null_mut();
        let result = guard(&mut error, || panic!("boom at the boundary"));
        assert_eq!(result, AGORA_LINK_ERROR_PANIC);
        assert!(!error.is_null());
        // SAFETY: the error object was just written by `guard`.
        unsafe {
            assert_eq!(agora_link_error_result(error), AGORA_LINK_ERROR_PANIC);
            let message = CStr::from_ptr(agora_link_error_message(error))
                .to_str()
                .unwrap();
            assert!(message.contains("boom at the boundary"), "{message}");
            agora_link_error_free(error);
        }
        // Without an error out-parameter, the code alone.
        assert_eq!(
            guard(ptr::null_mut(), || panic!("again")),
            AGORA_LINK_ERROR_PANIC
        );
        assert_eq!(guard_value(7, || panic!("getter")), 7);
    }

    #[test]
    fn interior_nul_bytes_never_truncate_or_fail() {
        assert_eq!(cstring("a\0b").to_str().unwrap(), "a\u{FFFD}b");
    }

    #[test]
    fn every_result_code_has_a_distinct_name() {
        let names: std::collections::HashSet<_> =
            agora_link_result::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), agora_link_result::ALL.len());
        for (index, result) in agora_link_result::ALL.iter().enumerate() {
            assert_eq!(*result as usize, index, "codes are dense and stable");
        }
    }
}
