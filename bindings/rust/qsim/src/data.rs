//! Calibration data (a library `DataSource` or a reader closure), progress closures, and the
//! extern "C" trampolines that call the closures for qsim.
//!
//! A closure never unwinds into C: each trampoline runs it under `catch_unwind`. A panic is kept
//! and the trampoline returns -1, so qsim fails the call with QSIM_ERR_CALLBACK, leaves the
//! session as it was, and returns; the binding then resumes the panic with `resume_unwind`, so
//! the caller sees their own panic and payload. A reader closure's `Err` ends the call the same
//! way but comes back as `Error { status: Status::Callback, message }` holding its text.

use std::any::Any;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{null_mut, NonNull};

use qsim_sys as sys;

use crate::array::Array;
use crate::error::{c_path, check, Result};

/// Calibration data qsim reads itself: .npy files or a copy of caller arrays, one per model
/// input. Every call it is given to starts from its first sample, so one source serves
/// `calibrate`, then `adaround`, and so on. Send (it may move to another thread) but not Sync:
/// qsim reads a source from one call at a time.
pub struct DataSource {
    raw: NonNull<sys::qsim_data_source>,
}

// SAFETY: a qsim_data_source is a plain heap object with no thread affinity; not being Sync
// (NonNull is not) keeps it to one thread at a time.
unsafe impl Send for DataSource {}

impl DataSource {
    /// One .npy file per model input, in model input order, each [N, ...] with the same N;
    /// read `batch_size` rows at a time. Errors name the file at fault.
    pub fn from_npy<P: AsRef<Path>>(paths: &[P], batch_size: i64) -> Result<DataSource> {
        let paths = paths
            .iter()
            .map(|path| c_path(path.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let pointers: Vec<*const c_char> = paths.iter().map(|path| path.as_ptr()).collect();
        let mut raw = null_mut();
        // SAFETY: pointers to NUL-terminated paths that outlive the call; a valid out pointer.
        check(unsafe {
            sys::qsim_data_source_from_npy(pointers.as_ptr(), pointers.len(), batch_size, &mut raw)
        })?;
        Ok(DataSource::own(raw))
    }

    /// Input i's samples in `arrays[i]`, each [N, ...] with the same N. qsim copies them.
    pub fn from_arrays(arrays: &[Array], batch_size: i64) -> Result<DataSource> {
        let tensors: Vec<sys::qsim_tensor> = arrays.iter().map(Array::to_c).collect();
        let mut raw = null_mut();
        // SAFETY: views of arrays borrowed for the call; qsim copies their data.
        check(unsafe {
            sys::qsim_data_source_from_memory(tensors.as_ptr(), tensors.len(), batch_size, &mut raw)
        })?;
        Ok(DataSource::own(raw))
    }

    fn own(raw: *mut sys::qsim_data_source) -> DataSource {
        DataSource {
            raw: NonNull::new(raw).expect("qsim returned QSIM_OK and no data source"),
        }
    }

    /// Number of samples N.
    pub fn samples(&self) -> Result<i64> {
        let mut samples = 0;
        // SAFETY: a live source and a valid out pointer.
        check(unsafe { sys::qsim_data_source_samples(self.raw.as_ptr(), &mut samples) })?;
        Ok(samples)
    }
}

impl Drop for DataSource {
    fn drop(&mut self) {
        // SAFETY: the source is owned and not used after this.
        unsafe { sys::qsim_data_source_destroy(self.raw.as_ptr()) }
    }
}

/// What a reader closure's error may be: anything `?` turns into a boxed error.
pub type ReaderError = Box<dyn std::error::Error + Send + Sync>;

/// One batch: one array per model input, in model input order, each [batch, ...].
pub type Batch = Vec<Array>;

/// A reader closure: `Ok(Some(batch))` for each batch, `Ok(None)` at the end, `Err` when it
/// fails. qsim reads it from where it is: a closure `calibrate` drained gives `adaround`
/// nothing, so give each call a fresh one (or use a `DataSource`).
pub type Reader<'a> = &'a mut dyn FnMut() -> std::result::Result<Option<Batch>, ReaderError>;

/// A progress closure: `(done, total, message)`, total -1 when unknown; false cancels the call
/// (`Status::Cancelled`).
pub type Progress<'a> = &'a mut dyn FnMut(i64, i64, &str) -> bool;

/// The calibration data of a call.
pub enum Data<'a> {
    Source(&'a mut DataSource),
    Reader(Reader<'a>),
}

impl<'a> From<&'a mut DataSource> for Data<'a> {
    fn from(source: &'a mut DataSource) -> Data<'a> {
        Data::Source(source)
    }
}

/// How a reader closure ended a call early.
enum ReaderFailure {
    Panic(Box<dyn Any + Send>),
    Error(String),
}

struct ReaderState<'a> {
    read: Reader<'a>,
    /// The last batch: qsim reads it until its next call to the reader.
    batch: Batch,
    failure: Option<ReaderFailure>,
}

struct ProgressState<'a> {
    progress: Progress<'a>,
    panic: Option<Box<dyn Any + Send>>,
}

impl ReaderState<'_> {
    /// Points `inputs` at the batch's arrays, or says why it cannot.
    fn hand_over(
        &mut self,
        batch: Batch,
        inputs: &mut [sys::qsim_tensor],
    ) -> std::result::Result<(), String> {
        if batch.len() != inputs.len() {
            return Err(format!(
                "the reader gave {} arrays for a model of {} inputs",
                batch.len(),
                inputs.len()
            ));
        }
        self.batch = batch;
        for (input, array) in inputs.iter_mut().zip(&self.batch) {
            *input = array.to_c();
        }
        Ok(())
    }
}

unsafe extern "C" fn read_trampoline(
    user_data: *mut c_void,
    inputs: *mut sys::qsim_tensor,
    num_inputs: usize,
) -> c_int {
    // SAFETY: user_data is the ReaderState the call was given, alive for the whole call.
    let state = &mut *(user_data as *mut ReaderState);
    if state.failure.is_some() {
        return -1;
    }
    let inputs: &mut [sys::qsim_tensor] = if num_inputs == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(inputs, num_inputs)
    };
    let failure = match catch_unwind(AssertUnwindSafe(|| (state.read)())) {
        Ok(Ok(None)) => return 0,
        Ok(Ok(Some(batch))) => match state.hand_over(batch, inputs) {
            Ok(()) => return 1,
            Err(message) => ReaderFailure::Error(message),
        },
        Ok(Err(error)) => ReaderFailure::Error(error.to_string()),
        Err(payload) => ReaderFailure::Panic(payload),
    };
    state.failure = Some(failure);
    -1
}

unsafe extern "C" fn progress_trampoline(
    user_data: *mut c_void,
    done: i64,
    total: i64,
    message: *const c_char,
) -> c_int {
    // SAFETY: user_data is the ProgressState the call was given, alive for the whole call.
    let state = &mut *(user_data as *mut ProgressState);
    if state.panic.is_some() {
        return -1;
    }
    let message = if message.is_null() {
        "".into()
    } else {
        CStr::from_ptr(message).to_string_lossy()
    };
    match catch_unwind(AssertUnwindSafe(|| (state.progress)(done, total, &message))) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(payload) => {
            state.panic = Some(payload);
            -1
        }
    }
}

/// The C arguments a call taking a reader and a progress callback gets.
pub(crate) struct CallbackArgs {
    pub(crate) reader: sys::qsim_data_reader_fn,
    pub(crate) reader_data: *mut c_void,
    pub(crate) progress: sys::qsim_progress_fn,
    pub(crate) progress_data: *mut c_void,
}

/// Makes `call` with the C form of `data` and `progress`. A panic in either closure is resumed
/// here; otherwise returns qsim's status and the reader closure's error, if it gave one.
pub(crate) fn call_with_callbacks(
    data: Data<'_>,
    progress: Option<Progress<'_>>,
    call: impl FnOnce(CallbackArgs) -> sys::qsim_status,
) -> (sys::qsim_status, Option<String>) {
    let mut progress_state = progress.map(|progress| ProgressState {
        progress,
        panic: None,
    });
    let (progress, progress_data) = match progress_state.as_mut() {
        Some(state) => (
            Some(progress_trampoline as _),
            state as *mut ProgressState as *mut c_void,
        ),
        None => (None, null_mut()),
    };
    let (status, reader_failure) = match data {
        Data::Source(source) => {
            let reader = Some(sys::qsim_data_source_read as _);
            let reader_data = source.raw.as_ptr() as *mut c_void;
            (
                call(CallbackArgs {
                    reader,
                    reader_data,
                    progress,
                    progress_data,
                }),
                None,
            )
        }
        Data::Reader(read) => {
            let mut state = ReaderState {
                read,
                batch: Vec::new(),
                failure: None,
            };
            let reader_data = &mut state as *mut ReaderState as *mut c_void;
            let status = call(CallbackArgs {
                reader: Some(read_trampoline),
                reader_data,
                progress,
                progress_data,
            });
            (status, state.failure)
        }
    };
    if let Some(ReaderFailure::Panic(payload)) = reader_failure {
        resume_unwind(payload);
    }
    if let Some(payload) = progress_state.and_then(|state| state.panic) {
        resume_unwind(payload);
    }
    match reader_failure {
        Some(ReaderFailure::Error(message)) => (status, Some(message)),
        _ => (status, None),
    }
}
