//! IoT: presigned MQTT-over-WebSocket URLs and the credential provider, for C hosts.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::agora_link_result::*;
use super::client::agora_link_client;
use super::results::agora_link_login;
use super::{
    agora_link_error, agora_link_result, cstring, free_box, guard, require_out, str_arg, write_out,
    FfiError,
};
use crate::api::third_party::AwsProof;
use crate::iot::{CredentialSource, IotCredentialProvider, ProviderEvent};
use crate::runtime::Dispatcher;
use crate::secret::SecretString;

/// IoT event: new credentials are in use (`source` says where from).
pub const AGORA_LINK_IOT_EVENT_REFRESHED: u32 = 1;
/// IoT event: a refresh failed; the previous credentials stay in use while valid.
pub const AGORA_LINK_IOT_EVENT_REFRESH_FAILED: u32 = 2;
/// IoT event: the account must log in again; call `agora_link_iot_provider_update_login` with a
/// new login (from your own thread, not from the callback).
pub const AGORA_LINK_IOT_EVENT_LOGIN_REQUIRED: u32 = 3;

/// Credential source: `gyToken.proof` of the login.
pub const AGORA_LINK_IOT_SOURCE_PROOF: u32 = 1;
/// Credential source: Cognito `GetCredentialsForIdentity`.
pub const AGORA_LINK_IOT_SOURCE_COGNITO: u32 = 2;
/// Credential source: a new login (`agora_link_iot_provider_update_login`).
pub const AGORA_LINK_IOT_SOURCE_RELOGIN: u32 = 3;

/// Told of IoT credential events: `event` (`AGORA_LINK_IOT_EVENT_*`), `source`
/// (`AGORA_LINK_IOT_SOURCE_*`, 0 for LOGIN_REQUIRED) and, for REFRESHED, when the credentials
/// expire (ms since the Unix epoch; 0 otherwise). Always called on a library thread of the
/// provider's own (not a worker), one event at a time and in order, never on the thread of the
/// call that caused the event: a host may hold its own lock around
/// `agora_link_iot_provider_mqtt_url` or `_update_login` and take the same lock in the callback,
/// even with one worker thread. The event may therefore arrive shortly after that call returned.
/// It must not call blocking functions of this library (they would return
/// `AGORA_LINK_ERROR_WOULD_DEADLOCK`).
pub type agora_link_iot_event_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, event: u32, source: u32, expires_at_ms: i64),
>;

fn source_code(source: CredentialSource) -> u32 {
    match source {
        CredentialSource::Proof => AGORA_LINK_IOT_SOURCE_PROOF,
        CredentialSource::Cognito => AGORA_LINK_IOT_SOURCE_COGNITO,
        CredentialSource::Relogin => AGORA_LINK_IOT_SOURCE_RELOGIN,
    }
}

/// Copies `url` into the caller's buffer with a NUL, or reports the size needed.
fn into_buffer(
    url: &SecretString,
    buffer: *mut c_char,
    buffer_len: usize,
    written_out: *mut usize,
) -> Result<(), FfiError> {
    let bytes = url.expose().as_bytes();
    let needed = bytes.len() + 1;
    if !written_out.is_null() {
        // SAFETY: non-NULL (checked) and writable, per the contract.
        unsafe { *written_out = needed };
    }
    if buffer.is_null() || buffer_len < needed {
        return Err(FfiError::new(
            AGORA_LINK_ERROR_BUFFER_TOO_SMALL,
            format!("the URL needs a buffer of {needed} bytes"),
        ));
    }
    // SAFETY: `buffer` is writable for `buffer_len >= needed` bytes, per the contract.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.cast::<u8>(), bytes.len());
        *buffer.add(bytes.len()) = 0;
    }
    Ok(())
}

fn into_string(url: &SecretString, url_out: *mut *mut c_char) {
    // SAFETY: `url_out` was checked writable by the caller of this helper.
    unsafe { *url_out = cstring(url.expose()).into_raw() };
}

fn signing_time(time_ms: i64) -> SystemTime {
    if time_ms <= 0 {
        SystemTime::now()
    } else {
        UNIX_EPOCH + Duration::from_millis(time_ms as u64)
    }
}

/// Presigns `wss://<endpoint>/mqtt` (SigV4, service `iotdevicegateway`, the session token
/// appended unsigned) into the caller's `buffer` of `buffer_len` bytes, NUL-terminated.
/// `*written_out` (when not NULL) receives the size needed including the NUL, also when the
/// buffer is too small (`AGORA_LINK_ERROR_BUFFER_TOO_SMALL`; pass NULL/0 to ask for the size).
/// `region` NULL or empty: read from the endpoint. `session_token` may be NULL. `time_ms` is the
/// signing time in ms since the Unix epoch, 0 for now. The URL is a credential: wipe the buffer
/// after use. Pure computation; callable from any thread.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `buffer` is NULL or writable for `buffer_len` bytes;
/// `written_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_presign(
    endpoint: *const c_char,
    region: *const c_char,
    access_key_id: *const c_char,
    secret_access_key: *const c_char,
    session_token: *const c_char,
    time_ms: i64,
    buffer: *mut c_char,
    buffer_len: usize,
    written_out: *mut usize,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        // SAFETY: forwarded contracts.
        let url = unsafe {
            presign(
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                session_token,
                time_ms,
            )
        }?;
        into_buffer(&url, buffer, buffer_len, written_out)
    })
}

/// Like `agora_link_iot_presign`, returning a new string in `*url_out` (free it with
/// `agora_link_string_free`, which wipes it).
///
/// # Safety
/// Strings are NULL or NUL-terminated; `url_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_presign_string(
    endpoint: *const c_char,
    region: *const c_char,
    access_key_id: *const c_char,
    secret_access_key: *const c_char,
    session_token: *const c_char,
    time_ms: i64,
    url_out: *mut *mut c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(url_out, "url_out")?;
        // SAFETY: forwarded contracts.
        let url = unsafe {
            presign(
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                session_token,
                time_ms,
            )
        }?;
        into_string(&url, url_out);
        Ok(())
    })
}

/// # Safety
/// Strings are NULL or NUL-terminated.
unsafe fn presign(
    endpoint: *const c_char,
    region: *const c_char,
    access_key_id: *const c_char,
    secret_access_key: *const c_char,
    session_token: *const c_char,
    time_ms: i64,
) -> Result<SecretString, FfiError> {
    // SAFETY: NULL or NUL-terminated, per the contract.
    let endpoint = unsafe { str_arg(endpoint, "endpoint") }?;
    let region = if region.is_null() {
        ""
    } else {
        // SAFETY: as above.
        unsafe { str_arg(region, "region") }?
    };
    let region = if region.trim().is_empty() {
        crate::iot::sigv4::region_from_endpoint(endpoint)
            .ok_or_else(|| {
                FfiError::new(
                    AGORA_LINK_ERROR_INVALID_ARGUMENT,
                    format!("no region given and none in the endpoint {endpoint:?}"),
                )
            })?
            .to_owned()
    } else {
        region.to_owned()
    };
    let session_token = if session_token.is_null() {
        String::new()
    } else {
        // SAFETY: as above.
        unsafe { str_arg(session_token, "session_token") }?.to_owned()
    };
    let credentials = AwsProof {
        // SAFETY: as above.
        access_key_id: unsafe { str_arg(access_key_id, "access_key_id") }?.to_owned(),
        // SAFETY: as above.
        secret_key: unsafe { str_arg(secret_access_key, "secret_access_key") }?.into(),
        session_token: session_token.into(),
        session_expiration: UNIX_EPOCH,
    };
    crate::iot::presign_mqtt_url(endpoint, &region, &credentials, signing_time(time_ms))
        .map_err(FfiError::from)
}

/// Presigns the MQTT URL of `login`'s IoT credentials (`gyToken.proof`) at the client's corrected
/// clock, into `*url_out` (free with `agora_link_string_free`).
///
/// # Safety
/// `client` and `login` are NULL or live; `url_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_login_mqtt_url(
    client: *const agora_link_client,
    login: *const agora_link_login,
    url_out: *mut *mut c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(url_out, "url_out")?;
        // SAFETY: NULL or live, per the contract.
        let client = unsafe { client.as_ref() }.ok_or_else(|| FfiError::null("client"))?;
        // SAFETY: NULL or live, per the contract.
        let login = unsafe { login.as_ref() }.ok_or_else(|| FfiError::null("login"))?;
        let url = login
            .login
            .gy_token
            .mqtt_url(client.client.clock().now())
            .map_err(FfiError::from)?;
        into_string(&url, url_out);
        Ok(())
    })
}

/// Keeps the IoT credentials of one login fresh (see the Rust `IotCredentialProvider`).
/// Thread-safe: use it from any thread. Free with `agora_link_iot_provider_free`.
pub struct agora_link_iot_provider {
    provider: IotCredentialProvider,
    /// The callback's event queue, closed when the provider is freed.
    events: Option<Arc<Dispatcher<(u32, u32, i64)>>>,
}

impl Drop for agora_link_iot_provider {
    fn drop(&mut self) {
        if let Some(events) = &self.events {
            events.close();
        }
    }
}

struct CallbackContext {
    callback: unsafe extern "C" fn(*mut c_void, u32, u32, i64),
    user_data: usize,
}

/// Creates a provider for `login`'s IoT credentials, renewing through `client` (copied
/// references: both may be freed afterwards). `cognito_endpoint` NULL: the region's Cognito.
/// `callback` may be NULL; otherwise it is called with `user_data` as documented for
/// `agora_link_iot_event_callback`, until the provider is freed.
///
/// # Safety
/// `client` and `login` are NULL or live; `cognito_endpoint` is NULL or NUL-terminated;
/// `user_data` stays valid while the provider lives; `provider_out` and `error_out` are NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_provider_new(
    client: *const agora_link_client,
    login: *const agora_link_login,
    cognito_endpoint: *const c_char,
    callback: agora_link_iot_event_callback,
    user_data: *mut c_void,
    provider_out: *mut *mut agora_link_iot_provider,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(provider_out, "provider_out")?;
        // SAFETY: NULL or live, per the contract.
        let client = unsafe { client.as_ref() }.ok_or_else(|| FfiError::null("client"))?;
        // SAFETY: NULL or live, per the contract.
        let login = unsafe { login.as_ref() }.ok_or_else(|| FfiError::null("login"))?;
        let mut builder = IotCredentialProvider::builder(&client.client, &login.login);
        if !cognito_endpoint.is_null() {
            // SAFETY: NUL-terminated, per the contract.
            builder =
                builder.cognito_endpoint(unsafe { str_arg(cognito_endpoint, "cognito_endpoint") }?);
        }
        let mut events = None;
        if let Some(callback) = callback {
            let context = CallbackContext {
                callback,
                user_data: user_data as usize,
            };
            // Events go to the host's callback on a library thread of their own, in order (see
            // `runtime::Dispatcher`): never inside `mqtt_url` or `update_login`, where the host
            // may hold its own lock, and never on a worker the calls in flight need.
            let dispatcher = Arc::new(Dispatcher::new(move |(code, source, expires)| {
                // SAFETY: the host's callback with its own `user_data`, valid until the provider
                // is freed (which closes the dispatcher first), per the contract.
                unsafe {
                    (context.callback)(context.user_data as *mut c_void, code, source, expires)
                }
            }));
            events = Some(dispatcher.clone());
            let queue = dispatcher;
            builder = builder.on_event(move |event| {
                let (code, source, expires) = match event {
                    ProviderEvent::Refreshed { source, expires_at } => (
                        AGORA_LINK_IOT_EVENT_REFRESHED,
                        source_code(*source),
                        crate::api::wire::epoch_ms(*expires_at),
                    ),
                    ProviderEvent::RefreshFailed { source, .. } => {
                        (AGORA_LINK_IOT_EVENT_REFRESH_FAILED, source_code(*source), 0)
                    }
                    ProviderEvent::LoginRequired => (AGORA_LINK_IOT_EVENT_LOGIN_REQUIRED, 0, 0),
                };
                queue.send((code, source, expires));
            });
        }
        let provider = builder.build().map_err(FfiError::from)?;
        write_out(provider_out, agora_link_iot_provider { provider, events });
        Ok(())
    })
}

/// Presigns an MQTT URL with fresh credentials (refreshing them first when needed: blocking)
/// into `*url_out` (free with `agora_link_string_free`). Call it right before every (re)connect.
///
/// # Safety
/// `provider` is NULL or live; `url_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_provider_mqtt_url(
    provider: *const agora_link_iot_provider,
    url_out: *mut *mut c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(url_out, "url_out")?;
        // SAFETY: NULL or live, per the contract.
        let provider = unsafe { provider.as_ref() }.ok_or_else(|| FfiError::null("provider"))?;
        let url = crate::runtime::block_on(provider.provider.mqtt_url()).map_err(FfiError::from)?;
        into_string(&url, url_out);
        Ok(())
    })
}

/// The MQTT client id (`pool.identityId` of the current login) into `*client_id_out` (free
/// with `agora_link_string_free`).
///
/// # Safety
/// `provider` is NULL or live; `client_id_out` and `error_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_provider_client_id(
    provider: *const agora_link_iot_provider,
    client_id_out: *mut *mut c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        require_out(client_id_out, "client_id_out")?;
        // SAFETY: NULL or live, per the contract.
        let provider = unsafe { provider.as_ref() }.ok_or_else(|| FfiError::null("provider"))?;
        // SAFETY: checked writable.
        unsafe { *client_id_out = cstring(&provider.provider.client_id()).into_raw() };
        Ok(())
    })
}

/// Makes the next URL use renewed credentials (after the gateway refused the current ones),
/// and, when `date_header` is not NULL, corrects the clock from the refusal's `Date` header.
///
/// # Safety
/// `provider` is NULL or live; `date_header` is NULL or NUL-terminated; `error_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_provider_refused(
    provider: *const agora_link_iot_provider,
    date_header: *const c_char,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        // SAFETY: NULL or live, per the contract.
        let provider = unsafe { provider.as_ref() }.ok_or_else(|| FfiError::null("provider"))?;
        if !date_header.is_null() {
            // SAFETY: NUL-terminated, per the contract.
            let date = unsafe { str_arg(date_header, "date_header") }?;
            if !provider.provider.clock().observe_date_header(date) {
                return Err(FfiError::new(
                    AGORA_LINK_ERROR_INVALID_ARGUMENT,
                    format!("{date:?} is not an HTTP date"),
                ));
            }
        }
        provider.provider.invalidate();
        Ok(())
    })
}

/// Gives the provider the credentials of a new login of the account (after
/// `AGORA_LINK_IOT_EVENT_LOGIN_REQUIRED`). `login` is copied.
///
/// # Safety
/// `provider` and `login` are NULL or live; `error_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_provider_update_login(
    provider: *const agora_link_iot_provider,
    login: *const agora_link_login,
    error_out: *mut *mut agora_link_error,
) -> agora_link_result {
    guard(error_out, || {
        // SAFETY: NULL or live, per the contract.
        let provider = unsafe { provider.as_ref() }.ok_or_else(|| FfiError::null("provider"))?;
        // SAFETY: NULL or live, per the contract.
        let login = unsafe { login.as_ref() }.ok_or_else(|| FfiError::null("login"))?;
        provider
            .provider
            .update_login(&login.login)
            .map_err(FfiError::from)
    })
}

/// Frees a provider. When it returns no callback runs or will start: it waits for one running on
/// the provider's event thread (called from that callback itself, it returns at once and the
/// callback finishes afterwards). NULL is a no-op.
///
/// # Safety
/// `provider` is NULL or a provider from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_iot_provider_free(provider: *mut agora_link_iot_provider) {
    // SAFETY: forwarded contract.
    unsafe { free_box(provider) }
}
