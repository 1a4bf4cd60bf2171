//! The one way napi statuses are checked: every `sys::napi_*` call's status
//! goes through [`check`] (as a `napi::Result`, with what was being done)
//! or, inside the delivery path that reports raw statuses, [`ok`].

use napi::bindgen_prelude::*;
use napi::sys;

/// `Ok` for `napi_ok`; otherwise an `InvalidArg` error saying `what` failed.
pub(crate) fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::InvalidArg, what.to_string()))
    }
}

/// `Ok` for `napi_ok`; otherwise the status itself (for code that reports
/// raw statuses, as the batch delivery does).
pub(crate) fn ok(status: sys::napi_status) -> std::result::Result<(), sys::napi_status> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(status)
    }
}
