//! Options of sessions, SmoothQuant, AdaRound and export. Each `Default` is what the library's
//! `qsim_*_options_init` sets, so the defaults are the loaded libqsim's, never copies of them.
//! The structs are `#[non_exhaustive]` (fields may come with new qsim versions): start from
//! `Default::default()` and assign the fields to change.

use std::ffi::CString;
use std::mem::{size_of, MaybeUninit};
use std::os::raw::c_char;
use std::path::PathBuf;

use qsim_sys as sys;

use crate::enums::{
    AdaroundMode, CalibrationMethod, ExportFormats, NanPolicy, QdqWideForm, Target,
};
use crate::error::{c_path, c_string, check, copy_c_str, Result};

/// A C options struct as its init function leaves it.
fn initialised<T>(init: unsafe extern "C" fn(*mut T, u32) -> sys::qsim_status) -> T {
    let mut raw = MaybeUninit::<T>::zeroed();
    // SAFETY: the C options structs are plain data, valid when zeroed; init gets their size.
    let status = unsafe { init(raw.as_mut_ptr(), size_of::<T>() as u32) };
    if let Err(error) = check(status) {
        // Only a library older than this binding's header rejects the binding's struct size.
        panic!("qsim: cannot initialise options ({error}); is libqsim older than this binding?");
    }
    // SAFETY: zeroed, then filled by init.
    unsafe { raw.assume_init() }
}

/// A string option the init function set, NULL as None.
fn optional_text(text: *const c_char) -> Option<String> {
    // SAFETY: init sets NULL or a static string.
    (!text.is_null()).then(|| unsafe { copy_c_str(text) })
}

/// A C options struct with the strings its pointers point into.
pub(crate) struct COptions<T> {
    pub(crate) raw: T,
    _strings: Vec<CString>,
}

/// Session options (qsim_options). `seed` is left out: the header reserves it, unused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// 0 = all cores.
    pub num_threads: i32,
    pub weight_bits: i32,
    pub activation_bits: i32,
    /// One weight encoding per output channel (false: as the configuration says).
    pub per_channel: bool,
    pub activation_calibration: CalibrationMethod,
    pub weight_calibration: CalibrationMethod,
    /// Share kept by `CalibrationMethod::Percentile`.
    pub percentile: f64,
    /// AIMET quantsim configuration JSON file (not together with `config_json`).
    pub config_path: Option<PathBuf>,
    /// The same configuration as a string.
    pub config_json: Option<String>,
    pub fold_batch_norm: bool,
    pub nan_policy: NanPolicy,
    pub target: Target,
    pub emulate: Target,
    pub max_tensor_bytes: u64,
    pub cross_layer_equalization: bool,
    /// -1: until converged.
    pub cle_steps: i32,
    pub cle_replace_relu6: bool,
    pub cle_high_bias_absorption: bool,
    pub cle_include_bias: bool,
}

impl Default for Options {
    fn default() -> Options {
        let raw = initialised(sys::qsim_options_init);
        Options {
            num_threads: raw.num_threads,
            weight_bits: raw.weight_bits,
            activation_bits: raw.activation_bits,
            per_channel: raw.per_channel != 0,
            activation_calibration: CalibrationMethod::from_raw(raw.activation_calibration),
            weight_calibration: CalibrationMethod::from_raw(raw.weight_calibration),
            percentile: raw.percentile,
            config_path: optional_text(raw.config_path).map(PathBuf::from),
            config_json: optional_text(raw.config_json),
            fold_batch_norm: raw.fold_batch_norm != 0,
            nan_policy: NanPolicy::from_raw(raw.nan_policy),
            target: Target::from_raw(raw.target),
            emulate: Target::from_raw(raw.emulate),
            max_tensor_bytes: raw.max_tensor_bytes,
            cross_layer_equalization: raw.cross_layer_equalization != 0,
            cle_steps: raw.cle_steps,
            cle_replace_relu6: raw.cle_replace_relu6 != 0,
            cle_high_bias_absorption: raw.cle_high_bias_absorption != 0,
            cle_include_bias: raw.cle_include_bias != 0,
        }
    }
}

impl Options {
    pub(crate) fn to_c(&self) -> Result<COptions<sys::qsim_options>> {
        // Starting from init keeps the defaults of any field this binding does not know.
        let mut raw = initialised(sys::qsim_options_init);
        let mut strings = Vec::new();
        raw.num_threads = self.num_threads;
        raw.weight_bits = self.weight_bits;
        raw.activation_bits = self.activation_bits;
        raw.per_channel = self.per_channel.into();
        raw.activation_calibration = self.activation_calibration.raw();
        raw.weight_calibration = self.weight_calibration.raw();
        raw.percentile = self.percentile;
        if let Some(path) = &self.config_path {
            strings.push(c_path(path)?);
            raw.config_path = strings[strings.len() - 1].as_ptr();
        }
        if let Some(json) = &self.config_json {
            strings.push(c_string(json, "config_json")?);
            raw.config_json = strings[strings.len() - 1].as_ptr();
        }
        raw.fold_batch_norm = self.fold_batch_norm.into();
        raw.nan_policy = self.nan_policy.raw();
        raw.target = self.target.raw();
        raw.emulate = self.emulate.raw();
        raw.max_tensor_bytes = self.max_tensor_bytes;
        raw.cross_layer_equalization = self.cross_layer_equalization.into();
        raw.cle_steps = self.cle_steps;
        raw.cle_replace_relu6 = self.cle_replace_relu6.into();
        raw.cle_high_bias_absorption = self.cle_high_bias_absorption.into();
        raw.cle_include_bias = self.cle_include_bias.into();
        // The pointers point into the CStrings' heap blocks, which moving the Vec keeps.
        Ok(COptions {
            raw,
            _strings: strings,
        })
    }
}

/// SmoothQuant options (qsim_smooth_quant_options).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SmoothQuantOptions {
    /// Migration strength in [0, 1].
    pub alpha: f64,
    /// Calibration samples measured (the data's first ones).
    pub num_samples: i32,
}

impl Default for SmoothQuantOptions {
    fn default() -> SmoothQuantOptions {
        let raw = initialised(sys::qsim_smooth_quant_options_init);
        SmoothQuantOptions {
            alpha: raw.alpha,
            num_samples: raw.num_samples,
        }
    }
}

impl SmoothQuantOptions {
    pub(crate) fn to_c(&self) -> sys::qsim_smooth_quant_options {
        let mut raw = initialised(sys::qsim_smooth_quant_options_init);
        raw.alpha = self.alpha;
        raw.num_samples = self.num_samples;
        raw
    }
}

/// AdaRound, AdaQuant and bias correction options (qsim_adaround_options; docs/ADAROUND.md).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AdaroundOptions {
    pub mode: AdaroundMode,
    pub num_iterations: i32,
    /// Calibration samples read (the data's first ones).
    pub num_samples: i32,
    pub batch_samples: i32,
    /// 0 = the session's; results do not depend on it.
    pub num_threads: i32,
    pub seed: u64,
    pub memory_budget_bytes: u64,
    pub regularization: f64,
    pub beta_start: f64,
    pub beta_end: f64,
    pub warm_start: f64,
    pub learning_rate: f64,
    pub zeta: f64,
    pub gamma: f64,
    pub adaquant_iterations: i32,
    pub adaquant_early_stop: bool,
    pub adaquant_learning_rate: f64,
    pub adaquant_train_bias: bool,
}

impl Default for AdaroundOptions {
    fn default() -> AdaroundOptions {
        let raw = initialised(sys::qsim_adaround_options_init);
        AdaroundOptions {
            mode: AdaroundMode::from_raw(raw.mode),
            num_iterations: raw.num_iterations,
            num_samples: raw.num_samples,
            batch_samples: raw.batch_samples,
            num_threads: raw.num_threads,
            seed: raw.seed,
            memory_budget_bytes: raw.memory_budget_bytes,
            regularization: raw.regularization,
            beta_start: raw.beta_start,
            beta_end: raw.beta_end,
            warm_start: raw.warm_start,
            learning_rate: raw.learning_rate,
            zeta: raw.zeta,
            gamma: raw.gamma,
            adaquant_iterations: raw.adaquant_iterations,
            adaquant_early_stop: raw.adaquant_early_stop != 0,
            adaquant_learning_rate: raw.adaquant_learning_rate,
            adaquant_train_bias: raw.adaquant_train_bias != 0,
        }
    }
}

impl AdaroundOptions {
    pub(crate) fn to_c(&self) -> sys::qsim_adaround_options {
        let mut raw = initialised(sys::qsim_adaround_options_init);
        raw.mode = self.mode.raw();
        raw.num_iterations = self.num_iterations;
        raw.num_samples = self.num_samples;
        raw.batch_samples = self.batch_samples;
        raw.num_threads = self.num_threads;
        raw.seed = self.seed;
        raw.memory_budget_bytes = self.memory_budget_bytes;
        raw.regularization = self.regularization;
        raw.beta_start = self.beta_start;
        raw.beta_end = self.beta_end;
        raw.warm_start = self.warm_start;
        raw.learning_rate = self.learning_rate;
        raw.zeta = self.zeta;
        raw.gamma = self.gamma;
        raw.adaquant_iterations = self.adaquant_iterations;
        raw.adaquant_early_stop = self.adaquant_early_stop.into();
        raw.adaquant_learning_rate = self.adaquant_learning_rate;
        raw.adaquant_train_bias = self.adaquant_train_bias.into();
        raw
    }
}

/// Export options (qsim_export_options; docs/EXPORT.md).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExportOptions {
    pub formats: ExportFormats,
    /// File name stem; None: the library's default ("model").
    pub basename: Option<String>,
    /// QDQ activations on a signed grid (int8 / int16).
    pub qdq_int8_activations: bool,
    pub qdq_wide_form: QdqWideForm,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        let raw = initialised(sys::qsim_export_options_init);
        ExportOptions {
            formats: ExportFormats(raw.formats),
            basename: optional_text(raw.basename),
            qdq_int8_activations: raw.qdq_int8_activations != 0,
            qdq_wide_form: QdqWideForm::from_raw(raw.qdq_wide_form),
        }
    }
}

impl ExportOptions {
    pub(crate) fn to_c(&self) -> Result<COptions<sys::qsim_export_options>> {
        let mut raw = initialised(sys::qsim_export_options_init);
        let mut strings = Vec::new();
        raw.formats = self.formats.0;
        if let Some(basename) = &self.basename {
            strings.push(c_string(basename, "basename")?);
            raw.basename = strings[0].as_ptr();
        }
        raw.qdq_int8_activations = self.qdq_int8_activations.into();
        raw.qdq_wide_form = self.qdq_wide_form.raw();
        Ok(COptions {
            raw,
            _strings: strings,
        })
    }
}
