//! Statuses and errors: every failed call becomes an `Error` holding qsim's status and the
//! message naming the file, tensor or op at fault.

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::c_char;
use std::path::Path;

use qsim_sys as sys;

use crate::enums::Status;

/// A failed qsim call: its status (never `QSIM_OK`) and qsim's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error found by the binding itself, before or instead of calling qsim.
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    /// "QSIM_ERR_IO: cannot open 'model.onnx': ...", as the C samples print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// A C string qsim owns, copied; NULL reads as "".
///
/// # Safety
/// `text` is NULL or points at a NUL-terminated string valid for the call.
pub(crate) unsafe fn copy_c_str(text: *const c_char) -> String {
    if text.is_null() {
        String::new()
    } else {
        CStr::from_ptr(text).to_string_lossy().into_owned()
    }
}

/// `Ok` for `QSIM_OK`, else the error with the message `message` reads; it is only read on
/// failure, before any other qsim call on this thread or session could replace it.
pub(crate) fn check_with(status: sys::qsim_status, message: impl FnOnce() -> String) -> Result<()> {
    if status == sys::QSIM_OK {
        Ok(())
    } else {
        Err(Error {
            status: Status::from_raw(status),
            message: message(),
        })
    }
}

/// For calls without a session: the message is the calling thread's, qsim_last_error().
pub(crate) fn check(status: sys::qsim_status) -> Result<()> {
    // SAFETY: qsim_last_error returns a thread-local string valid until this thread's next call.
    check_with(status, || unsafe { copy_c_str(sys::qsim_last_error()) })
}

/// `text` for C; `what` names it in the error when it holds a NUL byte.
pub(crate) fn c_string(text: &str, what: &str) -> Result<CString> {
    CString::new(text).map_err(|_| {
        Error::new(
            Status::InvalidArgument,
            format!("{what} {text:?} holds a NUL byte"),
        )
    })
}

/// A path for C: its bytes on Unix, where paths need not be UTF-8.
#[cfg(unix)]
pub(crate) fn c_path(path: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::new(
            Status::InvalidArgument,
            format!("the path {path:?} holds a NUL byte"),
        )
    })
}

/// A path for C: UTF-8 elsewhere (what qsim opens files by).
#[cfg(not(unix))]
pub(crate) fn c_path(path: &Path) -> Result<CString> {
    let text = path.to_str().ok_or_else(|| {
        Error::new(
            Status::InvalidArgument,
            format!("the path {path:?} is not UTF-8"),
        )
    })?;
    c_string(text, "the path")
}
