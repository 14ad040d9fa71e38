//! `Session`: one loaded model, its quantization and its exports.

use std::os::raw::c_void;
use std::path::Path;
use std::ptr::{null_mut, NonNull};

use qsim_sys as sys;

use crate::array::{blank_tensor, shape_of, Array, OutputBuffer};
use crate::data::{call_with_callbacks, CallbackArgs, Data, Progress};
use crate::enums::{DType, ExportFormats, Role, RunMode, Symmetry, TextFormat};
use crate::error::{c_path, check, check_with, copy_c_str, Error, Result};
use crate::options::{AdaroundOptions, ExportOptions, Options, SmoothQuantOptions};

/// A loaded model (qsim_session). Dropping it calls qsim_destroy.
///
/// Send but not Sync: qsim lets one thread at a time use a session, so a session may move to
/// another thread, and `&Session` may not be shared between threads. Errors of its calls carry
/// qsim_session_last_error, which stays right wherever the thread runs.
pub struct Session {
    raw: NonNull<sys::qsim_session>,
}

// SAFETY: a qsim_session has no thread affinity; the NonNull keeps Session from being Sync.
unsafe impl Send for Session {}

/// Name, dtype and declared shape of a model input or output (-1 for a symbolic dimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i64>,
}

/// One quantized (or deliberately float) tensor: q = clamp(round(x / scale) - offset, 0,
/// 2^bitwidth - 1), x = (q + offset) * scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodingInfo {
    pub name: String,
    pub role: Role,
    /// false: kept float.
    pub quantized: bool,
    pub bitwidth: i32,
    pub symmetry: Symmetry,
    /// The channel axis; None per tensor.
    pub axis: Option<i32>,
    pub num_channels: usize,
    /// NaN/Inf values the last calibration left out (`NanPolicy::Exclude`).
    pub excluded_values: i64,
}

/// Scales and offsets of an encoding, one per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Channels {
    pub scales: Vec<f32>,
    pub offsets: Vec<i32>,
}

impl Session {
    /// Loads the model at `model_path`; every option is checked here.
    pub fn new(model_path: impl AsRef<Path>, options: &Options) -> Result<Session> {
        let path = c_path(model_path.as_ref())?;
        let options = options.to_c()?;
        let mut raw = null_mut();
        // SAFETY: a valid path, options and out pointer.
        check(unsafe { sys::qsim_create(path.as_ptr(), &options.raw, &mut raw) })?;
        Ok(Session::own(raw))
    }

    /// Loads a model from its bytes.
    pub fn from_memory(model: &[u8], options: &Options) -> Result<Session> {
        let options = options.to_c()?;
        let mut raw = null_mut();
        // SAFETY: the bytes are borrowed for the call; valid options and out pointer.
        check(unsafe {
            sys::qsim_create_from_memory(
                model.as_ptr() as *const c_void,
                model.len(),
                &options.raw,
                &mut raw,
            )
        })?;
        Ok(Session::own(raw))
    }

    fn own(raw: *mut sys::qsim_session) -> Session {
        Session {
            raw: NonNull::new(raw).expect("qsim returned QSIM_OK and no session"),
        }
    }

    /// The session's error for a failed call: qsim_session_last_error, which (unlike the
    /// thread's qsim_last_error) no call on another session or without one replaces.
    fn check(&self, status: sys::qsim_status) -> Result<()> {
        // SAFETY: a live session; the message is copied before the session's next call.
        check_with(status, || unsafe {
            copy_c_str(sys::qsim_session_last_error(self.raw.as_ptr()))
        })
    }

    fn io_infos(&self, kind: sys::qsim_io_kind) -> Result<Vec<IoInfo>> {
        let mut count = 0;
        // SAFETY: a live session and a valid out pointer.
        self.check(unsafe { sys::qsim_io_count(self.raw.as_ptr(), kind, &mut count) })?;
        (0..count)
            .map(|index| {
                let mut tensor = blank_tensor();
                // SAFETY: a live session and a valid out pointer; the name lives as long as the session.
                self.check(unsafe {
                    sys::qsim_io_info(self.raw.as_ptr(), kind, index, &mut tensor)
                })?;
                Ok(IoInfo {
                    name: unsafe { copy_c_str(tensor.name) },
                    dtype: DType::from_raw(tensor.dtype),
                    shape: shape_of(&tensor),
                })
            })
            .collect()
    }

    pub fn inputs(&self) -> Result<Vec<IoInfo>> {
        self.io_infos(sys::QSIM_INPUT)
    }

    pub fn outputs(&self) -> Result<Vec<IoInfo>> {
        self.io_infos(sys::QSIM_OUTPUT)
    }

    /// Runs the model on `inputs` (model input order) and returns its outputs in model order.
    /// `RunMode::Quantized` needs encodings (calibration or `load_encodings`).
    pub fn run(&mut self, mode: RunMode, inputs: &[Array]) -> Result<Vec<Array>> {
        let inputs: Vec<sys::qsim_tensor> = inputs.iter().map(Array::to_c).collect();
        let mut outputs = vec![blank_tensor(); self.outputs()?.len()];
        // SAFETY: input views borrowed for the call; outputs get their dtypes and shapes.
        self.check(unsafe {
            sys::qsim_infer_shapes(
                self.raw.as_ptr(),
                inputs.as_ptr(),
                inputs.len(),
                outputs.as_mut_ptr(),
                outputs.len(),
            )
        })?;
        let (buffers, mut outputs): (Vec<OutputBuffer>, Vec<sys::qsim_tensor>) = outputs
            .iter()
            .map(OutputBuffer::new)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        // SAFETY: each output points into its buffer, with the buffer's size as capacity.
        self.check(unsafe {
            sys::qsim_run(
                self.raw.as_ptr(),
                mode.raw(),
                inputs.as_ptr(),
                inputs.len(),
                outputs.as_mut_ptr(),
                outputs.len(),
            )
        })?;
        buffers
            .into_iter()
            .zip(&outputs)
            .map(|(buffer, written)| buffer.into_array(written))
            .collect()
    }

    /// The outcome of a call that took callbacks: a reader closure's error becomes
    /// `Status::Callback` with its text (and qsim's words on where it happened).
    fn callback_result(
        &self,
        (status, reader_error): (sys::qsim_status, Option<String>),
    ) -> Result<()> {
        let result = self.check(status);
        match (result, reader_error) {
            (Err(error), Some(reader_error)) => Err(Error {
                status: error.status,
                message: format!("{reader_error} ({})", error.message),
            }),
            (result, _) => result,
        }
    }

    /// Computes weight encodings and calibrates activation encodings on `data`. `progress`
    /// gets (batches so far, -1, "calibration batch N") after each batch.
    pub fn calibrate<'a>(
        &mut self,
        data: impl Into<Data<'a>>,
        progress: Option<Progress<'_>>,
    ) -> Result<()> {
        let session = self.raw.as_ptr();
        let outcome = call_with_callbacks(data.into(), progress, |c: CallbackArgs| unsafe {
            // SAFETY: the arguments stay valid for the call (call_with_callbacks owns them).
            sys::qsim_calibrate(
                session,
                c.reader,
                c.reader_data,
                c.progress,
                c.progress_data,
            )
        });
        self.callback_result(outcome)
    }

    /// Loads encodings (qsim FlatBuffers or AIMET JSON) and freezes them.
    pub fn load_encodings(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = c_path(path.as_ref())?;
        // SAFETY: a live session and a valid path.
        self.check(unsafe { sys::qsim_load_encodings(self.raw.as_ptr(), path.as_ptr()) })
    }

    /// SmoothQuant, before `calibrate` or `load_encodings`, at most once.
    pub fn smooth_quant<'a>(
        &mut self,
        data: impl Into<Data<'a>>,
        options: &SmoothQuantOptions,
        progress: Option<Progress<'_>>,
    ) -> Result<()> {
        let session = self.raw.as_ptr();
        let options = options.to_c();
        let outcome = call_with_callbacks(data.into(), progress, |c: CallbackArgs| unsafe {
            // SAFETY: the arguments stay valid for the call.
            sys::qsim_smooth_quant(
                session,
                c.reader,
                c.reader_data,
                &options,
                c.progress,
                c.progress_data,
            )
        });
        self.callback_result(outcome)
    }

    /// AdaRound, AdaQuant or bias correction (options.mode), after calibration.
    pub fn adaround<'a>(
        &mut self,
        data: impl Into<Data<'a>>,
        options: &AdaroundOptions,
        progress: Option<Progress<'_>>,
    ) -> Result<()> {
        let session = self.raw.as_ptr();
        let options = options.to_c();
        let outcome = call_with_callbacks(data.into(), progress, |c: CallbackArgs| unsafe {
            // SAFETY: the arguments stay valid for the call.
            sys::qsim_adaround(
                session,
                c.reader,
                c.reader_data,
                &options,
                c.progress,
                c.progress_data,
            )
        });
        self.callback_result(outcome)
    }

    /// Number of encodings (0 before calibration or loading).
    pub fn encoding_count(&self) -> Result<usize> {
        let mut count = 0;
        // SAFETY: a live session and a valid out pointer.
        self.check(unsafe { sys::qsim_encoding_count(self.raw.as_ptr(), &mut count) })?;
        Ok(count)
    }

    pub fn encoding(&self, index: usize) -> Result<EncodingInfo> {
        // SAFETY: qsim_encoding_info is plain data, valid when zeroed.
        let mut info: sys::qsim_encoding_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::qsim_encoding_info>() as u32;
        // SAFETY: a live session and a valid out pointer; the name lives as long as the session.
        self.check(unsafe { sys::qsim_get_encoding(self.raw.as_ptr(), index, &mut info) })?;
        Ok(EncodingInfo {
            name: unsafe { copy_c_str(info.name) },
            role: Role::from_raw(info.role),
            quantized: info.quantized != 0,
            bitwidth: info.bitwidth,
            symmetry: Symmetry::from_raw(info.symmetry),
            axis: (info.axis >= 0).then_some(info.axis),
            num_channels: info.num_channels,
            excluded_values: info.excluded_values,
        })
    }

    /// Every encoding: activations in graph order, then weights and biases.
    pub fn encodings(&self) -> Result<Vec<EncodingInfo>> {
        (0..self.encoding_count()?)
            .map(|index| self.encoding(index))
            .collect()
    }

    pub fn encoding_channels(&self, index: usize) -> Result<Channels> {
        let channels = self.encoding(index)?.num_channels;
        let mut scales = vec![0f32; channels];
        let mut offsets = vec![0i32; channels];
        // SAFETY: both buffers hold `channels` entries.
        self.check(unsafe {
            sys::qsim_get_encoding_channels(
                self.raw.as_ptr(),
                index,
                scales.as_mut_ptr(),
                offsets.as_mut_ptr(),
                channels,
            )
        })?;
        Ok(Channels { scales, offsets })
    }

    /// Remarks on the quantization, one per line; the first lists the techniques applied.
    pub fn notes(&mut self) -> Result<String> {
        let mut text = null_mut();
        // SAFETY: a live session and a valid out pointer; the text is freed with qsim_free.
        self.check(unsafe { sys::qsim_get_notes(self.raw.as_ptr(), &mut text) })?;
        let notes = unsafe { copy_c_str(text) };
        unsafe { sys::qsim_free(text as *mut c_void) };
        Ok(notes)
    }

    /// Writes the chosen formats into `out_dir` (created if missing). A format that cannot be
    /// built is skipped and the others are written: the error is then Status::Incomplete,
    /// naming each skipped file and why, and `exported_formats` tells what was written.
    pub fn export(&mut self, out_dir: impl AsRef<Path>, options: &ExportOptions) -> Result<()> {
        let dir = c_path(out_dir.as_ref())?;
        let options = options.to_c()?;
        // SAFETY: a live session, a valid path and options.
        self.check(unsafe { sys::qsim_export(self.raw.as_ptr(), dir.as_ptr(), &options.raw) })
    }

    /// The formats the last `export` wrote (empty before any, and after one that wrote none).
    pub fn exported_formats(&self) -> Result<ExportFormats> {
        let mut bits = 0u32;
        // SAFETY: a live session and a valid out pointer.
        self.check(unsafe { sys::qsim_exported_formats(self.raw.as_ptr(), &mut bits) })?;
        Ok(ExportFormats(bits))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the session is owned and not used after this.
        unsafe { sys::qsim_destroy(self.raw.as_ptr()) }
    }
}

/// A description of the model at `model_path` (inputs, outputs, op counts, parameters,
/// unsupported ops), as text or JSON; works for models with unsupported ops.
pub fn describe_model(model_path: impl AsRef<Path>, format: TextFormat) -> Result<String> {
    let path = c_path(model_path.as_ref())?;
    let mut text = null_mut();
    // SAFETY: a valid path and out pointer; the text is freed with qsim_free.
    check(unsafe { sys::qsim_describe_model(path.as_ptr(), format.raw(), &mut text) })?;
    let description = unsafe { copy_c_str(text) };
    unsafe { sys::qsim_free(text as *mut c_void) };
    Ok(description)
}
