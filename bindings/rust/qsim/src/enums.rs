//! The header's enums as Rust enums. Each keeps an `Other(i32)` variant: the C enums are 32-bit
//! integers where qsim may add values, so converting from C never fails and any value can be
//! passed on (qsim rejects one that names nothing with QSIM_ERR_INVALID_ARGUMENT).

use std::ops::BitOr;

use qsim_sys as sys;

use crate::error::{c_string, check, Result};

macro_rules! c_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $value:path,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
            /// A value this binding does not name.
            Other(i32),
        }

        impl $name {
            pub fn from_raw(raw: i32) -> $name {
                match raw {
                    $(value if value == $value => $name::$variant,)+
                    other => $name::Other(other),
                }
            }

            pub fn raw(self) -> i32 {
                match self {
                    $($name::$variant => $value,)+
                    $name::Other(raw) => raw,
                }
            }
        }
    };
}

c_enum! {
    /// Why a call failed (qsim_status without QSIM_OK).
    Status {
        InvalidArgument = sys::QSIM_ERR_INVALID_ARGUMENT,
        Io = sys::QSIM_ERR_IO,
        Parse = sys::QSIM_ERR_PARSE,
        Unsupported = sys::QSIM_ERR_UNSUPPORTED,
        Shape = sys::QSIM_ERR_SHAPE,
        State = sys::QSIM_ERR_STATE,
        /// A progress closure returned false.
        Cancelled = sys::QSIM_ERR_CANCELLED,
        OutOfMemory = sys::QSIM_ERR_OUT_OF_MEMORY,
        BufferTooSmall = sys::QSIM_ERR_BUFFER_TOO_SMALL,
        Numeric = sys::QSIM_ERR_NUMERIC,
        Internal = sys::QSIM_ERR_INTERNAL,
        /// A reader closure returned an error (a panic is resumed instead).
        Callback = sys::QSIM_ERR_CALLBACK,
        /// Some outputs were written, others skipped (Session::export; the message says
        /// which and why, Session::exported_formats what was written).
        Incomplete = sys::QSIM_ERR_INCOMPLETE,
    }
}

impl Status {
    /// qsim's name of the status, e.g. "QSIM_ERR_PARSE".
    pub fn name(self) -> String {
        // SAFETY: qsim_status_name returns a static string for any value.
        unsafe { crate::error::copy_c_str(sys::qsim_status_name(self.raw())) }
    }
}

c_enum! {
    /// Element type of a tensor.
    DType {
        Undefined = sys::QSIM_DTYPE_UNDEFINED,
        Float32 = sys::QSIM_DTYPE_FLOAT32,
        Uint8 = sys::QSIM_DTYPE_UINT8,
        Int8 = sys::QSIM_DTYPE_INT8,
        Uint16 = sys::QSIM_DTYPE_UINT16,
        Int16 = sys::QSIM_DTYPE_INT16,
        Int32 = sys::QSIM_DTYPE_INT32,
        Int64 = sys::QSIM_DTYPE_INT64,
        Bool = sys::QSIM_DTYPE_BOOL,
    }
}

c_enum! {
    /// How a tensor's range is chosen (docs/CALIBRATION.md).
    CalibrationMethod {
        MinMax = sys::QSIM_CALIB_MINMAX,
        TfEnhanced = sys::QSIM_CALIB_TF_ENHANCED,
        Percentile = sys::QSIM_CALIB_PERCENTILE,
        Entropy = sys::QSIM_CALIB_ENTROPY,
        Mse = sys::QSIM_CALIB_MSE,
        Pow2 = sys::QSIM_CALIB_POW2,
    }
}

c_enum! {
    /// What calibration does with NaN/Inf.
    NanPolicy {
        Reject = sys::QSIM_NAN_REJECT,
        Exclude = sys::QSIM_NAN_EXCLUDE,
    }
}

c_enum! {
    /// Integer arithmetic of the runtime a model is deployed on (docs/TARGETS.md).
    Target {
        Exact = sys::QSIM_TARGET_EXACT,
        OrtAvx2 = sys::QSIM_TARGET_ORT_AVX2,
    }
}

c_enum! {
    RunMode {
        Float = sys::QSIM_RUN_FLOAT,
        /// Quantization simulation (needs encodings).
        Quantized = sys::QSIM_RUN_QUANTIZED,
    }
}

c_enum! {
    /// What `Session::adaround` does (docs/ADAROUND.md).
    AdaroundMode {
        AdaRound = sys::QSIM_ADAROUND,
        AdaQuant = sys::QSIM_ADAQUANT,
        BiasCorrection = sys::QSIM_BIAS_CORRECTION,
        BiasCorrectionAnalytical = sys::QSIM_BIAS_CORRECTION_ANALYTICAL,
    }
}

c_enum! {
    Role {
        ModelInput = sys::QSIM_ROLE_MODEL_INPUT,
        Activation = sys::QSIM_ROLE_ACTIVATION,
        Weight = sys::QSIM_ROLE_WEIGHT,
        Bias = sys::QSIM_ROLE_BIAS,
    }
}

c_enum! {
    Symmetry {
        Asymmetric = sys::QSIM_ASYMMETRIC,
        Symmetric = sys::QSIM_SYMMETRIC,
        StrictSymmetric = sys::QSIM_STRICT_SYMMETRIC,
        UnsignedSymmetric = sys::QSIM_UNSIGNED_SYMMETRIC,
    }
}

c_enum! {
    /// How the QDQ export writes 16-bit QuantizeLinear/DequantizeLinear.
    QdqWideForm {
        Microsoft = sys::QSIM_QDQ_WIDE_MICROSOFT,
        Opset21 = sys::QSIM_QDQ_WIDE_OPSET21,
    }
}

c_enum! {
    TextFormat {
        Text = sys::QSIM_FORMAT_TEXT,
        Json = sys::QSIM_FORMAT_JSON,
    }
}

impl CalibrationMethod {
    /// The method of a name: "minmax", "tf_enhanced", "percentile", "entropy", "mse", "pow2".
    pub fn from_name(name: &str) -> Result<CalibrationMethod> {
        let name = c_string(name, "the name")?;
        let mut raw = 0;
        // SAFETY: a valid C string and out pointer.
        check(unsafe { sys::qsim_calibration_method_from_name(name.as_ptr(), &mut raw) })?;
        Ok(CalibrationMethod::from_raw(raw))
    }
}

impl Target {
    /// The target of a name: "exact", "ort-avx2".
    pub fn from_name(name: &str) -> Result<Target> {
        let name = c_string(name, "the name")?;
        let mut raw = 0;
        // SAFETY: a valid C string and out pointer.
        check(unsafe { sys::qsim_target_from_name(name.as_ptr(), &mut raw) })?;
        Ok(Target::from_raw(raw))
    }
}

/// A set of export formats (qsim_export_format bits), combined with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExportFormats(pub u32);

impl ExportFormats {
    /// `<basename>.encodings.fbs`
    pub const ENCODINGS_FBS: ExportFormats = ExportFormats(sys::QSIM_EXPORT_ENCODINGS_FBS as u32);
    /// `<basename>.encodings.json`
    pub const AIMET_JSON_0_6_1: ExportFormats =
        ExportFormats(sys::QSIM_EXPORT_AIMET_JSON_0_6_1 as u32);
    /// `<basename>.encodings.v1.json`
    pub const AIMET_JSON_1_0_0: ExportFormats =
        ExportFormats(sys::QSIM_EXPORT_AIMET_JSON_1_0_0 as u32);
    /// `<basename>.onnx`, the float model with its weights on their grids.
    pub const ONNX_ROUNDED: ExportFormats = ExportFormats(sys::QSIM_EXPORT_ONNX_ROUNDED as u32);
    /// `<basename>.qdq.onnx`
    pub const ONNX_QDQ: ExportFormats = ExportFormats(sys::QSIM_EXPORT_ONNX_QDQ as u32);
    pub const ALL: ExportFormats = ExportFormats(sys::QSIM_EXPORT_ALL as u32);

    pub fn contains(self, other: ExportFormats) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for ExportFormats {
    type Output = ExportFormats;

    fn bitor(self, other: ExportFormats) -> ExportFormats {
        ExportFormats(self.0 | other.0)
    }
}
