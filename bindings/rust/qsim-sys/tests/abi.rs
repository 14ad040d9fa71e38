//! The declarations of this crate against the ABI snapshot of the header,
//! `$QSIM_SOURCE_DIR/tests/abi/qsim_abi.txt` (the C compiler's sizes, alignments and offsets,
//! the enum values and the exported symbols). Each listing is compared both ways, so a struct,
//! field, constant or function missing on either side fails too.

use std::collections::BTreeMap;
use std::mem::{align_of, size_of, MaybeUninit};
use std::path::PathBuf;
use std::ptr::addr_of;

use qsim_sys::*;

fn snapshot() -> String {
    let source_dir = std::env::var_os("QSIM_SOURCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../..")));
    let path = source_dir.join("tests/abi/qsim_abi.txt");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Lines of the snapshot starting with `kind `, without that word.
fn entries<'a>(snapshot: &'a str, kind: &str) -> Vec<&'a str> {
    let prefix = format!("{kind} ");
    snapshot
        .lines()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .collect()
}

fn pointee_size<T>(_: *const T) -> usize {
    size_of::<T>()
}

/// "size S align A" of each struct and "offset O size S" of each "struct.field", as the
/// snapshot words them.
fn rust_layouts() -> BTreeMap<String, String> {
    let mut layouts = BTreeMap::new();
    macro_rules! layout {
        ($t:ident { $($field:ident),* $(,)? }) => {{
            layouts.insert(
                format!("struct {}", stringify!($t)),
                format!("size {} align {}", size_of::<$t>(), align_of::<$t>()),
            );
            let value = MaybeUninit::<$t>::uninit();
            let base = value.as_ptr();
            $(
                // SAFETY: addr_of! computes the field's address without reading the value.
                let field = unsafe { addr_of!((*base).$field) };
                layouts.insert(
                    format!("field {}.{}", stringify!($t), stringify!($field)),
                    format!("offset {} size {}", field as usize - base as usize, pointee_size(field)),
                );
            )*
        }};
    }
    layout!(qsim_tensor {
        name,
        dtype,
        rank,
        shape,
        data,
        size_bytes
    });
    layout!(qsim_options {
        struct_size,
        num_threads,
        weight_bits,
        activation_bits,
        per_channel,
        seed,
        activation_calibration,
        weight_calibration,
        percentile,
        config_path,
        config_json,
        fold_batch_norm,
        nan_policy,
        target,
        emulate,
        max_tensor_bytes,
        cross_layer_equalization,
        cle_steps,
        cle_replace_relu6,
        cle_high_bias_absorption,
        cle_include_bias,
    });
    layout!(qsim_smooth_quant_options {
        struct_size,
        alpha,
        num_samples
    });
    layout!(qsim_adaround_options {
        struct_size,
        mode,
        num_iterations,
        num_samples,
        batch_samples,
        num_threads,
        seed,
        memory_budget_bytes,
        regularization,
        beta_start,
        beta_end,
        warm_start,
        learning_rate,
        zeta,
        gamma,
        adaquant_iterations,
        adaquant_early_stop,
        adaquant_learning_rate,
        adaquant_train_bias,
    });
    layout!(qsim_encoding_info {
        struct_size,
        name,
        role,
        quantized,
        bitwidth,
        symmetry,
        axis,
        num_channels,
        excluded_values,
    });
    layout!(qsim_export_options {
        struct_size,
        formats,
        basename,
        qdq_int8_activations,
        qdq_wide_form
    });
    layouts
}

/// The snapshot's struct and field lines split as rust_layouts() keys them.
fn snapshot_layouts(snapshot: &str) -> BTreeMap<String, String> {
    let mut layouts = BTreeMap::new();
    for kind in ["struct", "field"] {
        for entry in entries(snapshot, kind) {
            let (name, layout) = entry.split_once(' ').expect("a struct or field line");
            layouts.insert(format!("{kind} {name}"), layout.to_string());
        }
    }
    layouts
}

#[test]
fn struct_sizes_alignments_and_offsets_match_the_c_compiler() {
    let snapshot = snapshot();
    let expected = snapshot_layouts(&snapshot);
    assert!(expected.len() > 6, "the snapshot lists no structs");
    assert_eq!(rust_layouts(), expected);
}

#[test]
fn enum_values_match_the_header() {
    let mut rust = BTreeMap::new();
    macro_rules! values {
        ($($enum_name:ident: $($constant:ident),+;)+) => {
            $($(rust.insert(format!("{}.{}", stringify!($enum_name), stringify!($constant)), $constant as i64);)+)+
        };
    }
    values! {
        qsim_status: QSIM_OK, QSIM_ERR_INVALID_ARGUMENT, QSIM_ERR_IO, QSIM_ERR_PARSE,
            QSIM_ERR_UNSUPPORTED, QSIM_ERR_SHAPE, QSIM_ERR_STATE, QSIM_ERR_CANCELLED,
            QSIM_ERR_OUT_OF_MEMORY, QSIM_ERR_BUFFER_TOO_SMALL, QSIM_ERR_NUMERIC, QSIM_ERR_INTERNAL,
            QSIM_ERR_CALLBACK, QSIM_ERR_INCOMPLETE, QSIM_STATUS_FORCE_INT32;
        qsim_dtype: QSIM_DTYPE_UNDEFINED, QSIM_DTYPE_FLOAT32, QSIM_DTYPE_UINT8, QSIM_DTYPE_INT8,
            QSIM_DTYPE_UINT16, QSIM_DTYPE_INT16, QSIM_DTYPE_INT32, QSIM_DTYPE_INT64, QSIM_DTYPE_BOOL,
            QSIM_DTYPE_FORCE_INT32;
        qsim_calibration_method: QSIM_CALIB_MINMAX, QSIM_CALIB_TF_ENHANCED, QSIM_CALIB_PERCENTILE,
            QSIM_CALIB_ENTROPY, QSIM_CALIB_MSE, QSIM_CALIB_POW2, QSIM_CALIBRATION_METHOD_FORCE_INT32;
        qsim_nan_policy: QSIM_NAN_REJECT, QSIM_NAN_EXCLUDE, QSIM_NAN_POLICY_FORCE_INT32;
        qsim_target: QSIM_TARGET_EXACT, QSIM_TARGET_ORT_AVX2, QSIM_TARGET_FORCE_INT32;
        qsim_io_kind: QSIM_INPUT, QSIM_OUTPUT, QSIM_IO_KIND_FORCE_INT32;
        qsim_run_mode: QSIM_RUN_FLOAT, QSIM_RUN_QUANTIZED, QSIM_RUN_MODE_FORCE_INT32;
        qsim_adaround_mode: QSIM_ADAROUND, QSIM_ADAQUANT, QSIM_BIAS_CORRECTION,
            QSIM_BIAS_CORRECTION_ANALYTICAL, QSIM_ADAROUND_MODE_FORCE_INT32;
        qsim_tensor_role: QSIM_ROLE_MODEL_INPUT, QSIM_ROLE_ACTIVATION, QSIM_ROLE_WEIGHT,
            QSIM_ROLE_BIAS, QSIM_TENSOR_ROLE_FORCE_INT32;
        qsim_symmetry: QSIM_ASYMMETRIC, QSIM_SYMMETRIC, QSIM_STRICT_SYMMETRIC,
            QSIM_UNSIGNED_SYMMETRIC, QSIM_SYMMETRY_FORCE_INT32;
        qsim_export_format: QSIM_EXPORT_ENCODINGS_FBS, QSIM_EXPORT_AIMET_JSON_0_6_1,
            QSIM_EXPORT_AIMET_JSON_1_0_0, QSIM_EXPORT_ONNX_ROUNDED, QSIM_EXPORT_ONNX_QDQ,
            QSIM_EXPORT_ALL, QSIM_EXPORT_FORMAT_FORCE_INT32;
        qsim_qdq_wide_form: QSIM_QDQ_WIDE_MICROSOFT, QSIM_QDQ_WIDE_OPSET21,
            QSIM_QDQ_WIDE_FORM_FORCE_INT32;
        qsim_text_format: QSIM_FORMAT_TEXT, QSIM_FORMAT_JSON, QSIM_TEXT_FORMAT_FORCE_INT32;
    }
    let snapshot = snapshot();
    let expected: BTreeMap<String, i64> = entries(&snapshot, "enum")
        .into_iter()
        .map(|entry| {
            let (name, value) = entry.split_once(" = ").expect("an enum line");
            (name.to_string(), value.parse().expect("an enum value"))
        })
        .collect();
    assert_eq!(rust, expected);
}

#[test]
fn every_exported_function_is_declared_and_links() {
    let mut rust = BTreeMap::new();
    macro_rules! functions {
        ($($function:ident),+ $(,)?) => {
            // The address makes the linker resolve each symbol against libqsim.
            $(rust.insert(stringify!($function).to_string(), $function as *const () as usize);)+
        };
    }
    functions!(
        qsim_version,
        qsim_version_number,
        qsim_kernel_path,
        qsim_last_error,
        qsim_session_last_error,
        qsim_status_name,
        qsim_calibration_method_from_name,
        qsim_target_from_name,
        qsim_options_init,
        qsim_create,
        qsim_create_from_memory,
        qsim_destroy,
        qsim_io_count,
        qsim_io_info,
        qsim_infer_shapes,
        qsim_run,
        qsim_data_source_from_npy,
        qsim_data_source_from_memory,
        qsim_data_source_samples,
        qsim_data_source_read,
        qsim_data_source_destroy,
        qsim_calibrate,
        qsim_load_encodings,
        qsim_smooth_quant_options_init,
        qsim_smooth_quant,
        qsim_adaround_options_init,
        qsim_adaround,
        qsim_encoding_count,
        qsim_get_encoding,
        qsim_get_encoding_channels,
        qsim_get_notes,
        qsim_export_options_init,
        qsim_export,
        qsim_exported_formats,
        qsim_describe_model,
        qsim_free,
    );
    assert!(rust.values().all(|&address| address != 0));
    let snapshot = snapshot();
    let declared: Vec<&String> = rust.keys().collect();
    let mut exported: Vec<&str> = entries(&snapshot, "symbol");
    exported.sort_unstable();
    assert_eq!(declared, exported);
}

#[test]
fn header_version_matches_the_snapshot_and_the_library() {
    let header = format!("{QSIM_VERSION_MAJOR}.{QSIM_VERSION_MINOR}.{QSIM_VERSION_PATCH}");
    assert_eq!(entries(&snapshot(), "version"), vec![header.as_str()]);
    // SAFETY: both return static data.
    let (number, text) = unsafe {
        (
            qsim_version_number(),
            std::ffi::CStr::from_ptr(qsim_version()),
        )
    };
    assert_eq!(number, QSIM_VERSION_NUMBER);
    assert_eq!(text.to_str().unwrap(), header);
}
