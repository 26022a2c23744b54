//! The client handle: blocking calls, and asynchronous calls with completion callbacks.

use std::ffi::{c_char, c_void, CString};
use std::future::Future;
use std::ptr;

use super::agora_link_result::*;
use super::results::{
    agora_link_account, agora_link_login, agora_link_package, agora_link_package_list,
    agora_link_token,
};
use super::{
    agora_link_config, agora_link_error, agora_link_result, free_box, guard, require_out, str_arg,
    write_out, FfiError,
};
use crate::api::cloud_storage::OpenPackageRequest;
use crate::client::Client;
use crate::error::Error;
use crate::secret::SecretString;

/// A client. Thread-safe: one client may be used by any number of threads at once, for blocking
/// and asynchronous calls alike. Create it with `agora_link_client_new`; free it with
/// `agora_link_client_free` once no blocking call using it is running (asynchronous calls in
/// flight keep what they need and complete normally).
pub struct agora_link_client {
    pub(crate) client: Client,
}

/// The payload of `agora_link_client_open_package`: which package to open for whom. All
/// strings are required, NUL-terminated UTF-8, borrowed for the duration of the call.
#[repr(C)]
pub struct agora_link_open_request {
    /// `appId`: the Agora App ID.
    pub app_id: *const c_char,
    /// `userId`.
    pub user_id: *const c_char,
    /// `deviceId`.
    pub device_id: *const c_char,
    /// `paymentOrderId`: your payment order id.
    pub payment_order_id: *const c_char,
    /// `cloudRecordPackageId`: the package to open.
    pub package_id: i64,
    /// `orderNumber`: how many (at least 1).
    pub order_number: i64,
}

/// A handle on an asynchronous call, to cancel it. Free it with `agora_link_call_free` (which
/// does not cancel). Thread-safe.
pub struct agora_link_call {
    abort: tokio::task::AbortHandle,
}

/// Completion of an asynchronous token call. Called exactly once, on a library thread (or, when
/// the call is cancelled by `agora_link_shutdown`, on the thread calling it). On
/// `AGORA_LINK_OK`, `token` is a new token owned by the callee (free it with
/// `agora_link_token_free`) and `error` is NULL; otherwise `token` is NULL and `error` is owned
/// by the callee (free it with `agora_link_error_free`). Blocking calls made from inside the
/// callback return `AGORA_LINK_ERROR_WOULD_DEADLOCK`; asynchronous calls are allowed.
pub type agora_link_token_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        result: agora_link_result,
        token: *mut agora_link_token,
        error: *mut agora_link_error,
    ),
>;

/// Completion of an asynchronous package-list call; as `agora_link_token_callback`, with a
/// list freed by `agora_link_package_list_free`.
pub type agora_link_package_list_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        result: agora_link_result,
        list: *mut agora_link_package_list,
        error: *mut agora_link_error,
    ),
>;

/// Completion of an asynchronous package call; as `agora_link_token_callback`, with a package
/// freed by `agora_link_package_free`.
pub type agora_link_package_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        result: agora_link_result,
        package: *mut agora_link_package,
        error: *mut agora_link_error,
    ),
>;

/// Completion of an asynchronous open call; as `agora_link_token_callback`, with the order id
/// freed by `agora_link_string_free`.
pub type agora_link_string_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        result: agora_link_result,
        value: *mut c_char,
        error: *mut agora_link_error,
    ),
>;

/// Completion of an asynchronous register call; as `agora_link_token_callback`, with an account
/// freed by `agora_link_account_free`.
pub type agora_link_account_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        result: agora_link_result,
        account: *mut agora_link_account,
        error: *mut agora_link_error,
    ),
>;

/// Completion of an asynchronous login call; as `agora_link_token_callback`, with a login
/// result freed by `agora_link_login_free`.
pub type agora_link_login_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        result: agora_link_result,
        login: *mut agora_link_login,
        error: *mut agora_link_error,
    ),
>;

/// Completion of an asynchronous call without a value (remove); as
/// `agora_link_token_callback` without the value.
pub type agora_link_done_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        result: agora_link_result,
        error: *mut agora_link_error,
    ),
>;

/// Something the C side receives through a callback or an out-parameter.
trait Delivered: Send + 'static {
    type Raw;
    fn into_raw(self) -> *mut Self::Raw;
}

macro_rules! boxed_delivered {
    ($($t:ty),*) => {$(
        impl Delivered for $t {
            type Raw = $t;
            fn into_raw(self) -> *mut $t { Box::into_raw(Box::new(self)) }
        }
    )*};
}
boxed_delivered!(
    agora_link_token,
    agora_link_package,
    agora_link_package_list,
    agora_link_account,
    agora_link_login
);

impl Delivered for CString {
    type Raw = c_char;
    fn into_raw(self) -> *mut c_char {
        CString::into_raw(self)
    }
}

/// `user_data` moved to a library thread. The host promises it may be used there.
struct UserData(*mut c_void);
// SAFETY: the documented contract of every `_async` function: `user_data` is handed back to the
// callback on a library thread, which the host accepts by passing it.
unsafe impl Send for UserData {}

/// Calls the C callback exactly once: with the outcome, or with `AGORA_LINK_ERROR_CANCELLED`
/// when dropped undelivered (task aborted, runtime shut down).
struct Completion<T> {
    deliver: Option<Deliver<T>>,
}

/// Hands an outcome to the host's callback.
type Deliver<T> = Box<dyn FnOnce(Result<T, FfiError>) + Send>;

impl<T> Completion<T> {
    fn complete(mut self, outcome: Result<T, FfiError>) {
        if let Some(deliver) = self.deliver.take() {
            deliver(outcome);
        }
    }

    /// Drops the completion without calling the callback: the call was refused up front, and
    /// the caller learns it from the return code instead.
    fn disarm(mut self) {
        self.deliver = None;
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(deliver) = self.deliver.take() {
            deliver(Err(FfiError::cancelled()));
        }
    }
}

type ValueCallback<R> =
    unsafe extern "C" fn(*mut c_void, agora_link_result, *mut R, *mut agora_link_error);

fn value_completion<T: Delivered>(
    callback: ValueCallback<T::Raw>,
    user_data: UserData,
) -> Completion<T> {
    Completion {
        deliver: Some(Box::new(move |outcome: Result<T, FfiError>| {
            let user_data = user_data;
            match outcome {
                // SAFETY: the host's callback, called once with ownership of the value.
                Ok(value) => unsafe {
                    callback(
                        user_data.0,
                        AGORA_LINK_OK,
                        value.into_raw(),
                        ptr::null_mut(),
                    )
                },
                Err(error) => {
                    let result = error.result;
                    let error = Box::into_raw(error.into_object());
                    // SAFETY: as above, with ownership of the error.
                    unsafe { callback(user_data.0, result, ptr::null_mut(), error) }
                }
            }
        })),
    }
}

fn done_completion(
    callback: unsafe extern "C" fn(*mut c_void, agora_link_result, *mut agora_link_error),
    user_data: UserData,
) -> Completion<()> {
    Completion {
        deliver: Some(Box::new(move |outcome: Result<(), FfiError>| {
            let user_data = user_data;
            match outcome {
                // SAFETY: the host's callback, called once.
                Ok(()) => unsafe { callback(user_data.0, AGORA_LINK_OK, ptr::null_mut()) },
                Err(error) => {
                    let result = error.result;
                    let error = Box::into_raw(error.into_object());
                    // SAFETY: as above, with ownership of the error.
                    unsafe { callback(user_data.0, result, error) }
                }
            }
        })),
    }
}

/// Spawns `work` on the library runtime; its outcome goes to `completion`. Writes a call handle
/// to `call_out` when it is not NULL.
fn spawn_call<T, F>(
    work: F,
    completion: Completion<T>,
    call_out: *mut *mut agora_link_call,
) -> Result<(), FfiError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    let handle = match crate::runtime::handle() {
        Ok(handle) => handle,
        Err(error) => {
            completion.disarm();
            return Err(FfiError::from(error));
        }
    };
    let task = handle.spawn(async move {
        // A panic inside the call reaches the callback as AGORA_LINK_ERROR_PANIC (not as a
        // cancellation, which is what dropping the completion while unwinding would report).
        let mut work = std::pin::pin!(work);
        let caught = std::future::poll_fn(|cx| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.as_mut().poll(cx)))
            {
                Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
                Ok(std::task::Poll::Ready(result)) => std::task::Poll::Ready(Ok(result)),
                Err(payload) => std::task::Poll::Ready(Err(payload)),
            }
        })
        .await;
        let outcome = match caught {
            Ok(result) => result.map_err(FfiError::from),
            Err(payload) => Err(FfiError::panic(payload)),
        };
        completion.complete(outcome);
    });
    if !call_out.is_null() {
        write_out(
            call_out,
            agora_link_call {
                abort: task.abort_handle(),
            },
        );
    }
    Ok(())
}

/// The client behind a handle pointer.
///
/// # Safety
/// `client` is NULL or a live client.
unsafe fn client_ref<'a>(client: *const agora_link_client) -> Result<&'a Client, FfiError> {
    // SAFETY: NULL or live, per the contract.
    unsafe { client.as_ref() }
        .map(|c| &c.client)
        .ok_or_else(|| FfiError::null("client"))
}

/// Runs `work` to completion on the library runtime, blocking this thread.
fn block<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, FfiError> {
    crate::runtime::block_on(work).map_err(FfiError::from)
}

/// Creates a client from `config` (copied: the configuration may be freed afterwards). Validates
/// the configuration: a bad URL, plain HTTP to a remote host or a bad PEM gives
/// `AGORA_LINK_ERROR_CONFIG`. On success `*client_out` receives a client owned by the caller.
///
/// # Safety
/// `config` is NULL or live; `client_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_new(
    config: *const agora_link_config,
    client_out: *mut *mut agora_link_client,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(client_out, "client_out")?;
        // SAFETY: NULL or live, per the contract.
        let config = unsafe { config.as_ref() }.ok_or_else(|| FfiError::null("config"))?;
        let client = Client::new(config.build()?).map_err(FfiError::from)?;
        write_out(client_out, agora_link_client { client });
        Ok(())
    })
}

/// Frees a client. NULL is a no-op. Asynchronous calls in flight complete normally.
///
/// # Safety
/// `client` is NULL or a client from `agora_link_client_new`, not freed before, and no blocking
/// call with it is running.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_free(client: *mut agora_link_client) {
    // SAFETY: forwarded contract.
    unsafe { free_box(client) }
}

/// Gets the managed REST token (cached; requested or renewed as needed). Blocking.
/// On success `*token_out` receives a token owned by the caller.
///
/// # Safety
/// `client` is NULL or live; `token_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_get_token(
    client: *const agora_link_client,
    token_out: *mut *mut agora_link_token,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(token_out, "token_out")?;
        // SAFETY: forwarded contract.
        let client = unsafe { client_ref(client) }?;
        let token = block(client.access_token())?;
        write_out(token_out, agora_link_token::from(token));
        Ok(())
    })
}

/// Lists every cloud-storage package (`getAll`). Blocking. On success `*list_out` receives a list
/// owned by the caller.
///
/// # Safety
/// `client` is NULL or live; `list_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_list_packages(
    client: *const agora_link_client,
    list_out: *mut *mut agora_link_package_list,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(list_out, "list_out")?;
        // SAFETY: forwarded contract.
        let client = unsafe { client_ref(client) }?;
        let packages = block(client.list_packages())?;
        write_out(list_out, agora_link_package_list::from(packages));
        Ok(())
    })
}

/// Gets one cloud-storage package by id (`getById`). Blocking. On success `*package_out`
/// receives a package owned by the caller.
///
/// # Safety
/// `client` is NULL or live; `package_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_get_package(
    client: *const agora_link_client,
    package_id: i64,
    package_out: *mut *mut agora_link_package,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(package_out, "package_out")?;
        // SAFETY: forwarded contract.
        let client = unsafe { client_ref(client) }?;
        let package = block(client.get_package(package_id))?;
        write_out(package_out, agora_link_package::from(package));
        Ok(())
    })
}

/// Reads an open request into the core type.
///
/// # Safety
/// `request` is NULL or points to a request whose strings are NULL or NUL-terminated.
unsafe fn open_request(
    request: *const agora_link_open_request,
) -> Result<OpenPackageRequest, FfiError> {
    // SAFETY: NULL or valid, per the contract.
    let request = unsafe { request.as_ref() }.ok_or_else(|| FfiError::null("request"))?;
    // SAFETY: forwarded string contract.
    unsafe {
        Ok(OpenPackageRequest {
            app_id: str_arg(request.app_id, "request->app_id")?.to_owned(),
            user_id: str_arg(request.user_id, "request->user_id")?.to_owned(),
            device_id: str_arg(request.device_id, "request->device_id")?.to_owned(),
            payment_order_id: str_arg(request.payment_order_id, "request->payment_order_id")?
                .to_owned(),
            cloud_record_package_id: request.package_id,
            order_number: request.order_number,
        })
    }
}

/// Opens (buys) a cloud-storage package (`open`). Blocking. Never repeated once the request may
/// have reached the server. On success `*order_id_out` receives the order id, a string owned by
/// the caller (free it with `agora_link_string_free`).
///
/// # Safety
/// `client` is NULL or live; `request` is NULL or valid with NUL-terminated strings;
/// `order_id_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_open_package(
    client: *const agora_link_client,
    request: *const agora_link_open_request,
    order_id_out: *mut *mut c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(order_id_out, "order_id_out")?;
        // SAFETY: forwarded contracts.
        let (client, request) = unsafe { (client_ref(client)?, open_request(request)?) };
        let order_id = block(client.open_package(&request))?;
        // SAFETY: checked non-NULL, writable per the contract.
        unsafe { *order_id_out = super::cstring(&order_id).into_raw() };
        Ok(())
    })
}

/// Registers a third-party account (`register`). Blocking. On success `*account_out` receives
/// the account (user id and account token) owned by the caller.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `account_out` and `error_out`
/// are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_register_account(
    client: *const agora_link_client,
    project_id: *const c_char,
    account: *const c_char,
    account_out: *mut *mut agora_link_account,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(account_out, "account_out")?;
        // SAFETY: forwarded contracts.
        let (client, project_id, account) = unsafe {
            (
                client_ref(client)?,
                str_arg(project_id, "project_id")?,
                str_arg(account, "account")?,
            )
        };
        let registered = block(client.register_account(project_id, account))?;
        write_out(account_out, agora_link_account::from(registered));
        Ok(())
    })
}

/// Logs a third-party account in (`login`) with the token `register` returned. Blocking. On
/// success `*login_out` receives the login result (`lsToken` and every IoT credential) owned by
/// the caller.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `login_out` and `error_out`
/// are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_login_account(
    client: *const agora_link_client,
    project_id: *const c_char,
    account: *const c_char,
    account_token: *const c_char,
    login_out: *mut *mut agora_link_login,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(login_out, "login_out")?;
        // SAFETY: forwarded contracts.
        let (client, project_id, account, token) = unsafe {
            (
                client_ref(client)?,
                str_arg(project_id, "project_id")?,
                str_arg(account, "account")?,
                SecretString::new(str_arg(account_token, "account_token")?),
            )
        };
        let login = block(client.login_account(project_id, account, &token))?;
        write_out(login_out, agora_link_login::from(login));
        Ok(())
    })
}

/// Removes a third-party account (`removeAccount`). Blocking.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `error_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_remove_account(
    client: *const agora_link_client,
    project_id: *const c_char,
    account: *const c_char,
    account_token: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        // SAFETY: forwarded contracts.
        let (client, project_id, account, token) = unsafe {
            (
                client_ref(client)?,
                str_arg(project_id, "project_id")?,
                str_arg(account, "account")?,
                SecretString::new(str_arg(account_token, "account_token")?),
            )
        };
        block(client.remove_account(project_id, account, &token))
    })
}

fn required<T>(callback: Option<T>) -> Result<T, FfiError> {
    callback.ok_or_else(|| FfiError::null("callback"))
}

/// Asynchronous `agora_link_client_get_token`. Returns at once; `callback` gets the outcome
/// exactly once, on a library thread, with `user_data` (which must be usable there). If this
/// returns anything but `AGORA_LINK_OK`, the callback is never called. When `call_out` is not
/// NULL it receives a handle to cancel the call, owned by the caller.
///
/// # Safety
/// `client` is NULL or live; `call_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_get_token_async(
    client: *const agora_link_client,
    callback: agora_link_token_callback,
    user_data: *mut c_void,
    call_out: *mut *mut agora_link_call,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        let callback = required(callback)?;
        // SAFETY: forwarded contract.
        let client = unsafe { client_ref(client) }?.clone();
        spawn_call(
            async move { client.access_token().await.map(agora_link_token::from) },
            value_completion(callback, UserData(user_data)),
            call_out,
        )
    })
}

/// Asynchronous `agora_link_client_list_packages`; see `agora_link_client_get_token_async`.
///
/// # Safety
/// `client` is NULL or live; `call_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_list_packages_async(
    client: *const agora_link_client,
    callback: agora_link_package_list_callback,
    user_data: *mut c_void,
    call_out: *mut *mut agora_link_call,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        let callback = required(callback)?;
        // SAFETY: forwarded contract.
        let client = unsafe { client_ref(client) }?.clone();
        spawn_call(
            async move {
                client
                    .list_packages()
                    .await
                    .map(agora_link_package_list::from)
            },
            value_completion(callback, UserData(user_data)),
            call_out,
        )
    })
}

/// Asynchronous `agora_link_client_get_package`; see `agora_link_client_get_token_async`.
///
/// # Safety
/// `client` is NULL or live; `call_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_get_package_async(
    client: *const agora_link_client,
    package_id: i64,
    callback: agora_link_package_callback,
    user_data: *mut c_void,
    call_out: *mut *mut agora_link_call,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        let callback = required(callback)?;
        // SAFETY: forwarded contract.
        let client = unsafe { client_ref(client) }?.clone();
        spawn_call(
            async move {
                client
                    .get_package(package_id)
                    .await
                    .map(agora_link_package::from)
            },
            value_completion(callback, UserData(user_data)),
            call_out,
        )
    })
}

/// Asynchronous `agora_link_client_open_package` (the request is copied before this returns);
/// see `agora_link_client_get_token_async`. The callback receives the order id as a string it
/// owns.
///
/// # Safety
/// `client` is NULL or live; `request` is NULL or valid with NUL-terminated strings;
/// `call_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_open_package_async(
    client: *const agora_link_client,
    request: *const agora_link_open_request,
    callback: agora_link_string_callback,
    user_data: *mut c_void,
    call_out: *mut *mut agora_link_call,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        let callback = required(callback)?;
        // SAFETY: forwarded contracts.
        let (client, request) = unsafe { (client_ref(client)?.clone(), open_request(request)?) };
        spawn_call(
            async move {
                let order_id = client.open_package(&request).await?;
                Ok(super::cstring(&order_id))
            },
            value_completion(callback, UserData(user_data)),
            call_out,
        )
    })
}

/// Asynchronous `agora_link_client_register_account` (strings are copied before this returns);
/// see `agora_link_client_get_token_async`.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `call_out` and `error_out` are
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_register_account_async(
    client: *const agora_link_client,
    project_id: *const c_char,
    account: *const c_char,
    callback: agora_link_account_callback,
    user_data: *mut c_void,
    call_out: *mut *mut agora_link_call,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        let callback = required(callback)?;
        // SAFETY: forwarded contracts.
        let (client, project_id, account) = unsafe {
            (
                client_ref(client)?.clone(),
                str_arg(project_id, "project_id")?.to_owned(),
                str_arg(account, "account")?.to_owned(),
            )
        };
        spawn_call(
            async move {
                client
                    .register_account(&project_id, &account)
                    .await
                    .map(agora_link_account::from)
            },
            value_completion(callback, UserData(user_data)),
            call_out,
        )
    })
}

/// Asynchronous `agora_link_client_login_account` (strings are copied before this returns); see
/// `agora_link_client_get_token_async`.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `call_out` and `error_out` are
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_login_account_async(
    client: *const agora_link_client,
    project_id: *const c_char,
    account: *const c_char,
    account_token: *const c_char,
    callback: agora_link_login_callback,
    user_data: *mut c_void,
    call_out: *mut *mut agora_link_call,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        let callback = required(callback)?;
        // SAFETY: forwarded contracts.
        let (client, project_id, account, token) = unsafe {
            (
                client_ref(client)?.clone(),
                str_arg(project_id, "project_id")?.to_owned(),
                str_arg(account, "account")?.to_owned(),
                SecretString::new(str_arg(account_token, "account_token")?),
            )
        };
        spawn_call(
            async move {
                client
                    .login_account(&project_id, &account, &token)
                    .await
                    .map(agora_link_login::from)
            },
            value_completion(callback, UserData(user_data)),
            call_out,
        )
    })
}

/// Asynchronous `agora_link_client_remove_account` (strings are copied before this returns);
/// see `agora_link_client_get_token_async`.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `call_out` and `error_out` are
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_client_remove_account_async(
    client: *const agora_link_client,
    project_id: *const c_char,
    account: *const c_char,
    account_token: *const c_char,
    callback: agora_link_done_callback,
    user_data: *mut c_void,
    call_out: *mut *mut agora_link_call,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        let callback = required(callback)?;
        // SAFETY: forwarded contracts.
        let (client, project_id, account, token) = unsafe {
            (
                client_ref(client)?.clone(),
                str_arg(project_id, "project_id")?.to_owned(),
                str_arg(account, "account")?.to_owned(),
                SecretString::new(str_arg(account_token, "account_token")?),
            )
        };
        spawn_call(
            async move { client.remove_account(&project_id, &account, &token).await },
            done_completion(callback, UserData(user_data)),
            call_out,
        )
    })
}

/// Cancels an asynchronous call. If it has not completed yet, its callback is called with
/// `AGORA_LINK_ERROR_CANCELLED` (on a library thread); a purchase (`open`) already sent may
/// still have been processed by the server. Cancelling a completed call is a no-op. Returns
/// `AGORA_LINK_ERROR_NULL_POINTER` for NULL. Thread-safe.
///
/// # Safety
/// `call` is NULL or a live call handle.
#[no_mangle]
pub unsafe extern "C" fn agora_link_call_cancel(call: *const agora_link_call) -> agora_link_result {
    guard(ptr::null_mut(), || {
        // SAFETY: NULL or live, per the contract.
        let call = unsafe { call.as_ref() }.ok_or_else(|| FfiError::null("call"))?;
        call.abort.abort();
        Ok(())
    })
}

/// Frees a call handle without cancelling the call. NULL is a no-op.
///
/// # Safety
/// `call` is NULL or a call handle from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_call_free(call: *mut agora_link_call) {
    // SAFETY: forwarded contract.
    unsafe { free_box(call) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI32, Ordering};

    static DELIVERED: AtomicI32 = AtomicI32::new(-1);

    unsafe extern "C" fn record(
        _user_data: *mut c_void,
        result: agora_link_result,
        error: *mut agora_link_error,
    ) {
        DELIVERED.store(result as i32, Ordering::SeqCst);
        // SAFETY: the error handed to the callback is owned by it.
        unsafe { crate::capi::agora_link_error_free(error) };
    }

    #[test]
    fn a_panic_in_an_async_call_reaches_the_callback_as_panic_not_cancelled() {
        let completion = done_completion(record, UserData(ptr::null_mut()));
        let work = async {
            tokio::task::yield_now().await;
            if DELIVERED.load(Ordering::SeqCst) == -1 {
                panic!("a bug inside the call");
            }
            Ok(())
        };
        assert!(
            spawn_call(work, completion, ptr::null_mut()).is_ok(),
            "spawned"
        );
        for _ in 0..500 {
            if DELIVERED.load(Ordering::SeqCst) != -1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            DELIVERED.load(Ordering::SeqCst),
            AGORA_LINK_ERROR_PANIC as i32
        );
    }
}
