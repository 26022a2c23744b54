//! Result handles and the read-only views of their fields.
//!
//! Each result is an opaque handle owning its strings; `agora_link_*_get` returns a pointer to a
//! plain struct of its fields, borrowed from the handle and valid until the handle is freed.
//! Results are immutable: they may be read from any thread. Their strings (tokens and keys
//! included) are overwritten with zeros when the result is freed.

use std::ffi::{c_char, CString};
use std::ptr;

use zeroize::Zeroize;

use super::{cstring, free_box, guard_value};
use crate::api::cloud_storage::CloudStoragePackage;
use crate::api::third_party::{LoginResult, RegisteredAccount};
use crate::api::token::RestToken;
use crate::api::wire::epoch_ms;

/// Owned C strings, zeroized on drop; the views point into them.
#[derive(Default)]
struct Strings(Vec<CString>);

impl Strings {
    /// Stores a copy of `text` and returns a pointer valid while `self` lives (the heap buffer
    /// of a `CString` does not move when the `CString` is moved).
    fn add(&mut self, text: &str) -> *const c_char {
        let owned = cstring(text);
        let pointer = owned.as_ptr();
        self.0.push(owned);
        pointer
    }
}

impl Drop for Strings {
    fn drop(&mut self) {
        for string in self.0.drain(..) {
            string.into_bytes_with_nul().zeroize();
        }
    }
}

/// The fields of a REST token (also the `lsToken` of a login).
#[repr(C)]
pub struct agora_link_token_view {
    /// The bearer token (secret).
    pub access_token: *const c_char,
    /// The token type (`"bearer"`).
    pub token_type: *const c_char,
    /// The refresh token (secret), or NULL when none was issued.
    pub refresh_token: *const c_char,
    /// The scope (`"read"`).
    pub scope: *const c_char,
    /// The lifetime the server gave, in seconds (`expires_in`).
    pub expires_in_s: u64,
    /// When the token expires, in ms since the Unix epoch.
    pub expires_at_ms: i64,
}

fn token_view(strings: &mut Strings, token: &RestToken) -> agora_link_token_view {
    agora_link_token_view {
        access_token: strings.add(token.access_token.expose()),
        token_type: strings.add(&token.token_type),
        refresh_token: token
            .refresh_token
            .as_ref()
            .map_or(ptr::null(), |t| strings.add(t.expose())),
        scope: strings.add(&token.scope),
        expires_in_s: token.expires_in.as_secs(),
        expires_at_ms: epoch_ms(token.expires_at),
    }
}

/// A REST token. Free with `agora_link_token_free`.
pub struct agora_link_token {
    view: agora_link_token_view,
    _strings: Strings,
}

impl From<RestToken> for agora_link_token {
    fn from(token: RestToken) -> Self {
        let mut strings = Strings::default();
        let view = token_view(&mut strings, &token);
        Self {
            view,
            _strings: strings,
        }
    }
}

/// The fields of `token`, borrowed from it; NULL if `token` is NULL.
///
/// # Safety
/// `token` is NULL or a live token.
#[no_mangle]
pub unsafe extern "C" fn agora_link_token_get(
    token: *const agora_link_token,
) -> *const agora_link_token_view {
    // SAFETY: NULL or live, per the contract.
    unsafe { token.as_ref() }.map_or(ptr::null(), |t| &t.view)
}

/// Frees a token (its strings are zeroized). NULL is a no-op.
///
/// # Safety
/// `token` is NULL or a token from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_token_free(token: *mut agora_link_token) {
    // SAFETY: forwarded contract.
    unsafe { free_box(token) }
}

/// The fields of a cloud-storage package.
#[repr(C)]
pub struct agora_link_package_view {
    /// `cloudRecordPackageId`.
    pub id: i64,
    /// `packageName`, e.g. `"包年365-1天"` (UTF-8).
    pub name: *const c_char,
    /// `packageType`, e.g. `"YEAR"`.
    pub package_type: *const c_char,
    /// `lifeCycle`, e.g. `"ONE"`.
    pub life_cycle: *const c_char,
    /// `bucket`.
    pub bucket: *const c_char,
    /// `preDir`.
    pub pre_dir: *const c_char,
    /// `deleted`.
    pub deleted: bool,
    /// `createdBy`.
    pub created_by: i64,
    /// `createdTime`, ms since the Unix epoch.
    pub created_time_ms: i64,
    /// `changedTime`, ms since the Unix epoch.
    pub changed_time_ms: i64,
}

fn package_view(strings: &mut Strings, package: &CloudStoragePackage) -> agora_link_package_view {
    agora_link_package_view {
        id: package.cloud_record_package_id,
        name: strings.add(&package.package_name),
        package_type: strings.add(&package.package_type),
        life_cycle: strings.add(&package.life_cycle),
        bucket: strings.add(&package.bucket),
        pre_dir: strings.add(&package.pre_dir),
        deleted: package.deleted,
        created_by: package.created_by,
        created_time_ms: package.created_time,
        changed_time_ms: package.changed_time,
    }
}

/// One cloud-storage package (from `getById`). Free with `agora_link_package_free`.
pub struct agora_link_package {
    view: agora_link_package_view,
    _strings: Strings,
}

impl From<CloudStoragePackage> for agora_link_package {
    fn from(package: CloudStoragePackage) -> Self {
        let mut strings = Strings::default();
        let view = package_view(&mut strings, &package);
        Self {
            view,
            _strings: strings,
        }
    }
}

/// The fields of `package`, borrowed from it; NULL if `package` is NULL.
///
/// # Safety
/// `package` is NULL or a live package.
#[no_mangle]
pub unsafe extern "C" fn agora_link_package_get(
    package: *const agora_link_package,
) -> *const agora_link_package_view {
    // SAFETY: NULL or live, per the contract.
    unsafe { package.as_ref() }.map_or(ptr::null(), |p| &p.view)
}

/// Frees a package. NULL is a no-op.
///
/// # Safety
/// `package` is NULL or a package from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_package_free(package: *mut agora_link_package) {
    // SAFETY: forwarded contract.
    unsafe { free_box(package) }
}

/// The package list of `getAll`. Free with `agora_link_package_list_free`.
pub struct agora_link_package_list {
    views: Vec<agora_link_package_view>,
    _strings: Strings,
}

impl From<Vec<CloudStoragePackage>> for agora_link_package_list {
    fn from(packages: Vec<CloudStoragePackage>) -> Self {
        let mut strings = Strings::default();
        let views = packages
            .iter()
            .map(|p| package_view(&mut strings, p))
            .collect();
        Self {
            views,
            _strings: strings,
        }
    }
}

/// The number of packages in `list` (0 if `list` is NULL).
///
/// # Safety
/// `list` is NULL or a live list.
#[no_mangle]
pub unsafe extern "C" fn agora_link_package_list_len(
    list: *const agora_link_package_list,
) -> usize {
    // SAFETY: NULL or live, per the contract.
    unsafe { list.as_ref() }.map_or(0, |l| l.views.len())
}

/// The package at `index`, borrowed from `list`; NULL if `list` is NULL or `index` is out of
/// range.
///
/// # Safety
/// `list` is NULL or a live list.
#[no_mangle]
pub unsafe extern "C" fn agora_link_package_list_at(
    list: *const agora_link_package_list,
    index: usize,
) -> *const agora_link_package_view {
    // SAFETY: NULL or live, per the contract.
    guard_value(ptr::null(), || {
        unsafe { list.as_ref() }
            .and_then(|l| l.views.get(index))
            .map_or(ptr::null(), |v| v as *const _)
    })
}

/// Frees a package list. NULL is a no-op.
///
/// # Safety
/// `list` is NULL or a list from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_package_list_free(list: *mut agora_link_package_list) {
    // SAFETY: forwarded contract.
    unsafe { free_box(list) }
}

/// The fields of a registered third-party account.
#[repr(C)]
pub struct agora_link_account_view {
    /// `userId`.
    pub user_id: *const c_char,
    /// `token`: the account token (secret); login and remove need it.
    pub token: *const c_char,
}

/// A registered third-party account. Free with `agora_link_account_free`.
pub struct agora_link_account {
    view: agora_link_account_view,
    _strings: Strings,
}

impl From<RegisteredAccount> for agora_link_account {
    fn from(account: RegisteredAccount) -> Self {
        let mut strings = Strings::default();
        let view = agora_link_account_view {
            user_id: strings.add(&account.user_id),
            token: strings.add(account.token.expose()),
        };
        Self {
            view,
            _strings: strings,
        }
    }
}

/// The fields of `account`, borrowed from it; NULL if `account` is NULL.
///
/// # Safety
/// `account` is NULL or a live account.
#[no_mangle]
pub unsafe extern "C" fn agora_link_account_get(
    account: *const agora_link_account,
) -> *const agora_link_account_view {
    // SAFETY: NULL or live, per the contract.
    unsafe { account.as_ref() }.map_or(ptr::null(), |a| &a.view)
}

/// Frees an account (its token is zeroized). NULL is a no-op.
///
/// # Safety
/// `account` is NULL or an account from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_account_free(account: *mut agora_link_account) {
    // SAFETY: forwarded contract.
    unsafe { free_box(account) }
}

/// The fields of a login: the account's Agora Link token (`lsToken`) and its AWS IoT
/// credentials (`gyToken`).
#[repr(C)]
pub struct agora_link_login_view {
    /// `lsToken`.
    pub ls_token: agora_link_token_view,
    /// `gyToken.endpoint`: the AWS IoT host for MQTT over WebSocket.
    pub endpoint: *const c_char,
    /// `gyToken.region`: the AWS region, e.g. `"cn-north-1"`.
    pub region: *const c_char,
    /// `gyToken.account`: the app user name.
    pub account: *const c_char,
    /// `gyToken.expiration`: lifetime of `granwin_token`, seconds.
    pub expiration_s: u64,
    /// When `granwin_token` expires, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// `gyToken.granwin_token` (secret).
    pub granwin_token: *const c_char,
    /// `gyToken.pool.identifier`.
    pub identifier: *const c_char,
    /// `gyToken.pool.identityId`: the Cognito identity id, also the MQTT client id.
    pub identity_id: *const c_char,
    /// `gyToken.pool.identityPoolId`.
    pub identity_pool_id: *const c_char,
    /// `gyToken.pool.token`: the Cognito OpenID token (secret).
    pub cognito_token: *const c_char,
    /// `gyToken.proof.accessKeyId`.
    pub access_key_id: *const c_char,
    /// `gyToken.proof.secretKey` (secret).
    pub secret_key: *const c_char,
    /// `gyToken.proof.sessionToken` (secret).
    pub session_token: *const c_char,
    /// `gyToken.proof.sessionExpiration`: when the AWS keys expire, ms since the Unix epoch.
    pub session_expiration_ms: i64,
}

/// The result of a login. Free with `agora_link_login_free`.
pub struct agora_link_login {
    view: agora_link_login_view,
    _strings: Strings,
    /// The login itself, for the IoT functions (secrets zeroized on drop).
    pub(crate) login: LoginResult,
}

impl From<LoginResult> for agora_link_login {
    fn from(login: LoginResult) -> Self {
        let mut s = Strings::default();
        let gy = &login.gy_token;
        let view = agora_link_login_view {
            ls_token: token_view(&mut s, &login.ls_token),
            endpoint: s.add(&gy.endpoint),
            region: s.add(&gy.region),
            account: s.add(&gy.account),
            expiration_s: gy.expiration.as_secs(),
            expires_at_ms: epoch_ms(gy.expires_at),
            granwin_token: s.add(gy.granwin_token.expose()),
            identifier: s.add(&gy.pool.identifier),
            identity_id: s.add(&gy.pool.identity_id),
            identity_pool_id: s.add(&gy.pool.identity_pool_id),
            cognito_token: s.add(gy.pool.token.expose()),
            access_key_id: s.add(&gy.proof.access_key_id),
            secret_key: s.add(gy.proof.secret_key.expose()),
            session_token: s.add(gy.proof.session_token.expose()),
            session_expiration_ms: epoch_ms(gy.proof.session_expiration),
        };
        Self {
            view,
            _strings: s,
            login,
        }
    }
}

/// The fields of `login`, borrowed from it; NULL if `login` is NULL.
///
/// # Safety
/// `login` is NULL or a live login result.
#[no_mangle]
pub unsafe extern "C" fn agora_link_login_get(
    login: *const agora_link_login,
) -> *const agora_link_login_view {
    // SAFETY: NULL or live, per the contract.
    unsafe { login.as_ref() }.map_or(ptr::null(), |l| &l.view)
}

/// Frees a login result (its secrets are zeroized). NULL is a no-op.
///
/// # Safety
/// `login` is NULL or a login result from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn agora_link_login_free(login: *mut agora_link_login) {
    // SAFETY: forwarded contract.
    unsafe { free_box(login) }
}

// SAFETY: every pointer in a view points into the heap buffers of the `Strings` owned by the
// same result, which is immutable after construction; moving or sharing the result across
// threads cannot invalidate or race on them.
unsafe impl Send for agora_link_token {}
// SAFETY: as above.
unsafe impl Sync for agora_link_token {}
// SAFETY: as above.
unsafe impl Send for agora_link_package {}
// SAFETY: as above.
unsafe impl Sync for agora_link_package {}
// SAFETY: as above.
unsafe impl Send for agora_link_package_list {}
// SAFETY: as above.
unsafe impl Sync for agora_link_package_list {}
// SAFETY: as above.
unsafe impl Send for agora_link_account {}
// SAFETY: as above.
unsafe impl Sync for agora_link_account {}
// SAFETY: as above.
unsafe impl Send for agora_link_login {}
// SAFETY: as above.
unsafe impl Sync for agora_link_login {}
