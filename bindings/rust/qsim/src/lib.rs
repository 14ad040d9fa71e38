//! Safe Rust binding of qsim, post-training quantization and quantization simulation for ONNX
//! models, over its C API (`qsim/qsim.h`, declared by the `qsim-sys` crate).
//!
//! ```no_run
//! use qsim::{AdaroundOptions, DataSource, ExportOptions, Options, Session};
//!
//! fn main() -> qsim::Result<()> {
//!     let mut session = Session::new("model.onnx", &Options::default())?;
//!     let mut source = DataSource::from_npy(&["calib.npy"], 32)?;
//!     session.calibrate(&mut source, None)?;
//!     let mut adaround = AdaroundOptions::default();
//!     adaround.num_iterations = 100;
//!     session.adaround(&mut source, &adaround, None)?; // the source starts over by itself
//!     session.export("out", &ExportOptions::default())?;
//!     println!("{}", session.notes()?.lines().next().unwrap_or(""));
//!     Ok(())
//! }
//! ```
//!
//! Errors are `Error { status, message }`; closures passed as readers or progress callbacks may
//! panic (the panic reaches the caller after qsim has returned) or, for readers, return `Err`
//! (`Status::Callback`). See docs/BINDING_RUST.md.

mod array;
mod data;
mod enums;
mod error;
mod options;
mod session;

use std::ffi::CStr;

pub use qsim_sys as sys;

pub use array::{Array, ArrayData};
pub use data::{Batch, Data, DataSource, Progress, Reader, ReaderError};
pub use enums::{
    AdaroundMode, CalibrationMethod, DType, ExportFormats, NanPolicy, QdqWideForm, Role, RunMode,
    Status, Symmetry, Target, TextFormat,
};
pub use error::{Error, Result};
pub use options::{AdaroundOptions, ExportOptions, Options, SmoothQuantOptions};
pub use session::{describe_model, Channels, EncodingInfo, IoInfo, Session};

/// The loaded library's version, "MAJOR.MINOR.PATCH".
pub fn version() -> &'static str {
    // SAFETY: qsim_version returns a static string.
    unsafe { CStr::from_ptr(sys::qsim_version()) }
        .to_str()
        .unwrap_or("")
}

/// The loaded library's MAJOR * 10000 + MINOR * 100 + PATCH; `sys::QSIM_VERSION_NUMBER` is
/// the header's this binding was written for.
pub fn version_number() -> i32 {
    // SAFETY: no arguments, no state.
    unsafe { sys::qsim_version_number() }
}

/// The kernel path this process takes, as `qsim_kernel_path` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelPath {
    /// "avx512", "avx2" or "baseline".
    pub name: &'static str,
    /// One line for logs, e.g. "avx2 (CPU: avx512; QSIM_MAX_ISA=avx2)".
    pub report: &'static str,
}

/// See `KernelPath`; `Status::InvalidArgument` when QSIM_MAX_ISA holds an unknown value.
pub fn kernel_path() -> Result<KernelPath> {
    let mut name = std::ptr::null();
    let mut report = std::ptr::null();
    // SAFETY: valid out pointers; both strings live as long as the process.
    error::check(unsafe { sys::qsim_kernel_path(&mut name, &mut report) })?;
    let lasting = |text| unsafe { CStr::from_ptr(text) }.to_str().unwrap_or("");
    Ok(KernelPath {
        name: lasting(name),
        report: lasting(report),
    })
}
