//! Raw declarations of qsim's C API, `include/qsim/qsim.h`, as the header has them.
//!
//! Every C enum is 32 bits wide (the header's `QSIM_ENUM_BASE`), so each is an `i32` type
//! alias with its values as constants: any value the library may add later still fits.
//! Structs are `#[repr(C)]` copies of the header's; `tests/abi.rs` checks their sizes, field
//! offsets, the enum values and the symbols against the ABI snapshot `tests/abi/qsim_abi.txt`.
//! Everything here is unsafe to call; the `qsim` crate wraps it.
#![allow(non_camel_case_types)]

use std::marker::{PhantomData, PhantomPinned};
use std::os::raw::{c_char, c_int, c_void};

pub const QSIM_VERSION_MAJOR: i32 = 0;
pub const QSIM_VERSION_MINOR: i32 = 3;
pub const QSIM_VERSION_PATCH: i32 = 0;
pub const QSIM_VERSION_NUMBER: i32 =
    QSIM_VERSION_MAJOR * 10000 + QSIM_VERSION_MINOR * 100 + QSIM_VERSION_PATCH;
pub const QSIM_MAX_RANK: usize = 8;

pub type qsim_status = i32;
pub const QSIM_OK: qsim_status = 0;
pub const QSIM_ERR_INVALID_ARGUMENT: qsim_status = 1;
pub const QSIM_ERR_IO: qsim_status = 2;
pub const QSIM_ERR_PARSE: qsim_status = 3;
pub const QSIM_ERR_UNSUPPORTED: qsim_status = 4;
pub const QSIM_ERR_SHAPE: qsim_status = 5;
pub const QSIM_ERR_STATE: qsim_status = 6;
pub const QSIM_ERR_CANCELLED: qsim_status = 7;
pub const QSIM_ERR_OUT_OF_MEMORY: qsim_status = 8;
pub const QSIM_ERR_BUFFER_TOO_SMALL: qsim_status = 9;
pub const QSIM_ERR_NUMERIC: qsim_status = 10;
pub const QSIM_ERR_INTERNAL: qsim_status = 11;
pub const QSIM_ERR_CALLBACK: qsim_status = 12;
pub const QSIM_ERR_INCOMPLETE: qsim_status = 13;
pub const QSIM_STATUS_FORCE_INT32: qsim_status = 0x7FFF_FFFF;

pub type qsim_dtype = i32;
pub const QSIM_DTYPE_UNDEFINED: qsim_dtype = 0;
pub const QSIM_DTYPE_FLOAT32: qsim_dtype = 1;
pub const QSIM_DTYPE_UINT8: qsim_dtype = 2;
pub const QSIM_DTYPE_INT8: qsim_dtype = 3;
pub const QSIM_DTYPE_UINT16: qsim_dtype = 4;
pub const QSIM_DTYPE_INT16: qsim_dtype = 5;
pub const QSIM_DTYPE_INT32: qsim_dtype = 6;
pub const QSIM_DTYPE_INT64: qsim_dtype = 7;
pub const QSIM_DTYPE_BOOL: qsim_dtype = 9;
pub const QSIM_DTYPE_FORCE_INT32: qsim_dtype = 0x7FFF_FFFF;

/// A tensor passed in or out: caller-owned memory, C order.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct qsim_tensor {
    pub name: *const c_char,
    pub dtype: qsim_dtype,
    pub rank: i32,
    pub shape: [i64; QSIM_MAX_RANK],
    pub data: *mut c_void,
    pub size_bytes: usize,
}

/// The opaque session handle (the Rustonomicon's pattern for opaque C types: not
/// constructible, not Send, not Sync, not Unpin).
#[repr(C)]
pub struct qsim_session {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

pub type qsim_calibration_method = i32;
pub const QSIM_CALIB_MINMAX: qsim_calibration_method = 0;
pub const QSIM_CALIB_TF_ENHANCED: qsim_calibration_method = 1;
pub const QSIM_CALIB_PERCENTILE: qsim_calibration_method = 2;
pub const QSIM_CALIB_ENTROPY: qsim_calibration_method = 3;
pub const QSIM_CALIB_MSE: qsim_calibration_method = 4;
pub const QSIM_CALIB_POW2: qsim_calibration_method = 5;
pub const QSIM_CALIBRATION_METHOD_FORCE_INT32: qsim_calibration_method = 0x7FFF_FFFF;

pub type qsim_nan_policy = i32;
pub const QSIM_NAN_REJECT: qsim_nan_policy = 0;
pub const QSIM_NAN_EXCLUDE: qsim_nan_policy = 1;
pub const QSIM_NAN_POLICY_FORCE_INT32: qsim_nan_policy = 0x7FFF_FFFF;

pub type qsim_target = i32;
pub const QSIM_TARGET_EXACT: qsim_target = 0;
pub const QSIM_TARGET_ORT_AVX2: qsim_target = 1;
pub const QSIM_TARGET_FORCE_INT32: qsim_target = 0x7FFF_FFFF;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct qsim_options {
    pub struct_size: u32,
    pub num_threads: i32,
    pub weight_bits: i32,
    pub activation_bits: i32,
    pub per_channel: i32,
    pub seed: u64,
    pub activation_calibration: qsim_calibration_method,
    pub weight_calibration: qsim_calibration_method,
    pub percentile: f64,
    pub config_path: *const c_char,
    pub config_json: *const c_char,
    pub fold_batch_norm: i32,
    pub nan_policy: qsim_nan_policy,
    pub target: qsim_target,
    pub emulate: qsim_target,
    pub max_tensor_bytes: u64,
    pub cross_layer_equalization: i32,
    pub cle_steps: i32,
    pub cle_replace_relu6: i32,
    pub cle_high_bias_absorption: i32,
    pub cle_include_bias: i32,
}

pub type qsim_io_kind = i32;
pub const QSIM_INPUT: qsim_io_kind = 0;
pub const QSIM_OUTPUT: qsim_io_kind = 1;
pub const QSIM_IO_KIND_FORCE_INT32: qsim_io_kind = 0x7FFF_FFFF;

pub type qsim_run_mode = i32;
pub const QSIM_RUN_FLOAT: qsim_run_mode = 0;
pub const QSIM_RUN_QUANTIZED: qsim_run_mode = 1;
pub const QSIM_RUN_MODE_FORCE_INT32: qsim_run_mode = 0x7FFF_FFFF;

/// Progress of a long call: 0 goes on, positive cancels, negative reports the callback's own
/// failure (QSIM_ERR_CALLBACK).
pub type qsim_progress_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        done: i64,
        total: i64,
        message: *const c_char,
    ) -> c_int,
>;

/// Supplies one batch: 1 with inputs filled, 0 at the end, negative on failure.
pub type qsim_data_reader_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        inputs: *mut qsim_tensor,
        num_inputs: usize,
    ) -> c_int,
>;

/// The opaque data source handle.
#[repr(C)]
pub struct qsim_data_source {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct qsim_smooth_quant_options {
    pub struct_size: u32,
    pub alpha: f64,
    pub num_samples: i32,
}

pub type qsim_adaround_mode = i32;
pub const QSIM_ADAROUND: qsim_adaround_mode = 0;
pub const QSIM_ADAQUANT: qsim_adaround_mode = 1;
pub const QSIM_BIAS_CORRECTION: qsim_adaround_mode = 2;
pub const QSIM_BIAS_CORRECTION_ANALYTICAL: qsim_adaround_mode = 3;
pub const QSIM_ADAROUND_MODE_FORCE_INT32: qsim_adaround_mode = 0x7FFF_FFFF;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct qsim_adaround_options {
    pub struct_size: u32,
    pub mode: qsim_adaround_mode,
    pub num_iterations: i32,
    pub num_samples: i32,
    pub batch_samples: i32,
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
    pub adaquant_early_stop: i32,
    pub adaquant_learning_rate: f64,
    pub adaquant_train_bias: i32,
}

pub type qsim_tensor_role = i32;
pub const QSIM_ROLE_MODEL_INPUT: qsim_tensor_role = 0;
pub const QSIM_ROLE_ACTIVATION: qsim_tensor_role = 1;
pub const QSIM_ROLE_WEIGHT: qsim_tensor_role = 2;
pub const QSIM_ROLE_BIAS: qsim_tensor_role = 3;
pub const QSIM_TENSOR_ROLE_FORCE_INT32: qsim_tensor_role = 0x7FFF_FFFF;

pub type qsim_symmetry = i32;
pub const QSIM_ASYMMETRIC: qsim_symmetry = 0;
pub const QSIM_SYMMETRIC: qsim_symmetry = 1;
pub const QSIM_STRICT_SYMMETRIC: qsim_symmetry = 2;
pub const QSIM_UNSIGNED_SYMMETRIC: qsim_symmetry = 3;
pub const QSIM_SYMMETRY_FORCE_INT32: qsim_symmetry = 0x7FFF_FFFF;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct qsim_encoding_info {
    pub struct_size: u32,
    pub name: *const c_char,
    pub role: qsim_tensor_role,
    pub quantized: i32,
    pub bitwidth: i32,
    pub symmetry: qsim_symmetry,
    pub axis: i32,
    pub num_channels: usize,
    pub excluded_values: i64,
}

pub type qsim_export_format = i32;
pub const QSIM_EXPORT_ENCODINGS_FBS: qsim_export_format = 1;
pub const QSIM_EXPORT_AIMET_JSON_0_6_1: qsim_export_format = 2;
pub const QSIM_EXPORT_AIMET_JSON_1_0_0: qsim_export_format = 4;
pub const QSIM_EXPORT_ONNX_ROUNDED: qsim_export_format = 8;
pub const QSIM_EXPORT_ONNX_QDQ: qsim_export_format = 16;
pub const QSIM_EXPORT_ALL: qsim_export_format = 31;
pub const QSIM_EXPORT_FORMAT_FORCE_INT32: qsim_export_format = 0x7FFF_FFFF;

pub type qsim_qdq_wide_form = i32;
pub const QSIM_QDQ_WIDE_MICROSOFT: qsim_qdq_wide_form = 0;
pub const QSIM_QDQ_WIDE_OPSET21: qsim_qdq_wide_form = 1;
pub const QSIM_QDQ_WIDE_FORM_FORCE_INT32: qsim_qdq_wide_form = 0x7FFF_FFFF;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct qsim_export_options {
    pub struct_size: u32,
    pub formats: u32,
    pub basename: *const c_char,
    pub qdq_int8_activations: i32,
    pub qdq_wide_form: i32,
}

pub type qsim_text_format = i32;
pub const QSIM_FORMAT_TEXT: qsim_text_format = 0;
pub const QSIM_FORMAT_JSON: qsim_text_format = 1;
pub const QSIM_TEXT_FORMAT_FORCE_INT32: qsim_text_format = 0x7FFF_FFFF;

// The link line comes from build.rs (QSIM_LIB_DIR or pkg-config), so no #[link] here.
extern "C" {
    pub fn qsim_version() -> *const c_char;
    pub fn qsim_version_number() -> i32;
    pub fn qsim_kernel_path(
        out_name: *mut *const c_char,
        out_report: *mut *const c_char,
    ) -> qsim_status;
    pub fn qsim_last_error() -> *const c_char;
    pub fn qsim_session_last_error(session: *const qsim_session) -> *const c_char;
    pub fn qsim_status_name(status: qsim_status) -> *const c_char;

    pub fn qsim_calibration_method_from_name(
        name: *const c_char,
        out_method: *mut qsim_calibration_method,
    ) -> qsim_status;
    pub fn qsim_target_from_name(name: *const c_char, out_target: *mut qsim_target) -> qsim_status;

    pub fn qsim_options_init(options: *mut qsim_options, struct_size: u32) -> qsim_status;
    pub fn qsim_create(
        model_path: *const c_char,
        options: *const qsim_options,
        out_session: *mut *mut qsim_session,
    ) -> qsim_status;
    pub fn qsim_create_from_memory(
        model_data: *const c_void,
        model_size: usize,
        options: *const qsim_options,
        out_session: *mut *mut qsim_session,
    ) -> qsim_status;
    pub fn qsim_destroy(session: *mut qsim_session);

    pub fn qsim_io_count(
        session: *const qsim_session,
        kind: qsim_io_kind,
        out_count: *mut usize,
    ) -> qsim_status;
    pub fn qsim_io_info(
        session: *const qsim_session,
        kind: qsim_io_kind,
        index: usize,
        out_info: *mut qsim_tensor,
    ) -> qsim_status;
    pub fn qsim_infer_shapes(
        session: *mut qsim_session,
        inputs: *const qsim_tensor,
        num_inputs: usize,
        outputs: *mut qsim_tensor,
        num_outputs: usize,
    ) -> qsim_status;
    pub fn qsim_run(
        session: *mut qsim_session,
        mode: qsim_run_mode,
        inputs: *const qsim_tensor,
        num_inputs: usize,
        outputs: *mut qsim_tensor,
        num_outputs: usize,
    ) -> qsim_status;

    pub fn qsim_data_source_from_npy(
        paths: *const *const c_char,
        num_paths: usize,
        batch_size: i64,
        out_source: *mut *mut qsim_data_source,
    ) -> qsim_status;
    pub fn qsim_data_source_from_memory(
        arrays: *const qsim_tensor,
        num_arrays: usize,
        batch_size: i64,
        out_source: *mut *mut qsim_data_source,
    ) -> qsim_status;
    pub fn qsim_data_source_samples(
        source: *const qsim_data_source,
        out_samples: *mut i64,
    ) -> qsim_status;
    pub fn qsim_data_source_read(
        source: *mut c_void,
        inputs: *mut qsim_tensor,
        num_inputs: usize,
    ) -> c_int;
    pub fn qsim_data_source_destroy(source: *mut qsim_data_source);

    pub fn qsim_calibrate(
        session: *mut qsim_session,
        reader: qsim_data_reader_fn,
        reader_data: *mut c_void,
        progress: qsim_progress_fn,
        progress_data: *mut c_void,
    ) -> qsim_status;
    pub fn qsim_load_encodings(session: *mut qsim_session, path: *const c_char) -> qsim_status;

    pub fn qsim_smooth_quant_options_init(
        options: *mut qsim_smooth_quant_options,
        struct_size: u32,
    ) -> qsim_status;
    pub fn qsim_smooth_quant(
        session: *mut qsim_session,
        reader: qsim_data_reader_fn,
        reader_data: *mut c_void,
        options: *const qsim_smooth_quant_options,
        progress: qsim_progress_fn,
        progress_data: *mut c_void,
    ) -> qsim_status;

    pub fn qsim_adaround_options_init(
        options: *mut qsim_adaround_options,
        struct_size: u32,
    ) -> qsim_status;
    pub fn qsim_adaround(
        session: *mut qsim_session,
        reader: qsim_data_reader_fn,
        reader_data: *mut c_void,
        options: *const qsim_adaround_options,
        progress: qsim_progress_fn,
        progress_data: *mut c_void,
    ) -> qsim_status;

    pub fn qsim_encoding_count(session: *const qsim_session, out_count: *mut usize) -> qsim_status;
    pub fn qsim_get_encoding(
        session: *const qsim_session,
        index: usize,
        out_info: *mut qsim_encoding_info,
    ) -> qsim_status;
    pub fn qsim_get_encoding_channels(
        session: *const qsim_session,
        index: usize,
        scales: *mut f32,
        offsets: *mut i32,
        capacity: usize,
    ) -> qsim_status;
    pub fn qsim_get_notes(session: *mut qsim_session, out_text: *mut *mut c_char) -> qsim_status;

    pub fn qsim_export_options_init(
        options: *mut qsim_export_options,
        struct_size: u32,
    ) -> qsim_status;
    pub fn qsim_export(
        session: *mut qsim_session,
        out_dir: *const c_char,
        options: *const qsim_export_options,
    ) -> qsim_status;
    pub fn qsim_exported_formats(session: *mut qsim_session, out_formats: *mut u32)
        -> qsim_status;

    pub fn qsim_describe_model(
        model_path: *const c_char,
        format: qsim_text_format,
        out_text: *mut *mut c_char,
    ) -> qsim_status;
    pub fn qsim_free(pointer: *mut c_void);
}
