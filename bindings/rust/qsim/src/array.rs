//! Owned C-order arrays: what `Session::run` takes and gives, what reader closures and
//! `DataSource::from_arrays` hand to qsim.

use std::mem::size_of_val;
use std::os::raw::c_void;

use qsim_sys as sys;

use crate::enums::{DType, Status};
use crate::error::{Error, Result};

/// The elements of an array, one variant per dtype qsim reads or writes.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

/// Runs `$body` with `$values` bound to the variant's Vec, whatever the variant.
macro_rules! each_variant {
    ($data:expr, $values:ident => $body:expr) => {
        match $data {
            ArrayData::F32($values) => $body,
            ArrayData::U8($values) => $body,
            ArrayData::I8($values) => $body,
            ArrayData::U16($values) => $body,
            ArrayData::I16($values) => $body,
            ArrayData::I32($values) => $body,
            ArrayData::I64($values) => $body,
            ArrayData::Bool($values) => $body,
        }
    };
}

impl ArrayData {
    pub fn dtype(&self) -> DType {
        match self {
            ArrayData::F32(_) => DType::Float32,
            ArrayData::U8(_) => DType::Uint8,
            ArrayData::I8(_) => DType::Int8,
            ArrayData::U16(_) => DType::Uint16,
            ArrayData::I16(_) => DType::Int16,
            ArrayData::I32(_) => DType::Int32,
            ArrayData::I64(_) => DType::Int64,
            ArrayData::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        each_variant!(self, values => values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn byte_len(&self) -> usize {
        each_variant!(self, values => size_of_val(values.as_slice()))
    }

    fn as_ptr(&self) -> *const c_void {
        each_variant!(self, values => values.as_ptr() as *const c_void)
    }

    fn as_mut_ptr(&mut self) -> *mut c_void {
        each_variant!(self, values => values.as_mut_ptr() as *mut c_void)
    }

    /// `len` zeros of `dtype` for qsim to write into. Bool comes as U8: qsim may write any
    /// byte, and only 0 and 1 are valid `bool`s.
    fn zeroed(dtype: DType, len: usize) -> Result<ArrayData> {
        Ok(match dtype {
            DType::Float32 => ArrayData::F32(vec![0.0; len]),
            DType::Uint8 | DType::Bool => ArrayData::U8(vec![0; len]),
            DType::Int8 => ArrayData::I8(vec![0; len]),
            DType::Uint16 => ArrayData::U16(vec![0; len]),
            DType::Int16 => ArrayData::I16(vec![0; len]),
            DType::Int32 => ArrayData::I32(vec![0; len]),
            DType::Int64 => ArrayData::I64(vec![0; len]),
            other => {
                return Err(Error::new(
                    Status::Unsupported,
                    format!("qsim gave an output of dtype {other:?}"),
                ))
            }
        })
    }

    fn truncate(&mut self, len: usize) {
        each_variant!(self, values => values.truncate(len))
    }
}

macro_rules! from_vec {
    ($($element:ty => $variant:ident),+) => {
        $(impl From<Vec<$element>> for ArrayData {
            fn from(values: Vec<$element>) -> ArrayData {
                ArrayData::$variant(values)
            }
        })+
    };
}

from_vec!(f32 => F32, u8 => U8, i8 => I8, u16 => U16, i16 => I16, i32 => I32, i64 => I64, bool => Bool);

/// A C-order array: a shape and as many elements as the shape holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    shape: Vec<i64>,
    data: ArrayData,
}

fn element_count(shape: &[i64]) -> Option<usize> {
    shape.iter().try_fold(1usize, |count, &dim| {
        count.checked_mul(usize::try_from(dim).ok()?)
    })
}

impl Array {
    /// Fails with `Status::Shape` unless the shape has at most 8 non-negative dimensions
    /// holding exactly `data.len()` elements.
    pub fn new(shape: impl Into<Vec<i64>>, data: impl Into<ArrayData>) -> Result<Array> {
        let shape = shape.into();
        let data = data.into();
        if shape.len() > sys::QSIM_MAX_RANK {
            return Err(Error::new(
                Status::Shape,
                format!(
                    "shape {shape:?} has more than {} dimensions",
                    sys::QSIM_MAX_RANK
                ),
            ));
        }
        if element_count(&shape) != Some(data.len()) {
            return Err(Error::new(
                Status::Shape,
                format!("shape {shape:?} does not hold {} elements", data.len()),
            ));
        }
        Ok(Array { shape, data })
    }

    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn data(&self) -> &ArrayData {
        &self.data
    }

    pub fn into_data(self) -> ArrayData {
        self.data
    }

    /// The elements when they are float32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            ArrayData::F32(values) => Some(values),
            _ => None,
        }
    }

    /// A view for qsim, bound by position (no name). qsim only reads input data, although
    /// the C field is a `void*`.
    pub(crate) fn to_c(&self) -> sys::qsim_tensor {
        let mut tensor = describe(self.dtype(), &self.shape);
        tensor.data = self.data.as_ptr() as *mut c_void;
        tensor.size_bytes = self.data.byte_len();
        tensor
    }
}

/// A tensor of this dtype and shape, without name or data.
fn describe(dtype: DType, shape: &[i64]) -> sys::qsim_tensor {
    let mut tensor = sys::qsim_tensor {
        name: std::ptr::null(),
        dtype: dtype.raw(),
        rank: shape.len() as i32,
        shape: [0; sys::QSIM_MAX_RANK],
        data: std::ptr::null_mut(),
        size_bytes: 0,
    };
    tensor.shape[..shape.len()].copy_from_slice(shape);
    tensor
}

/// A tensor for qsim to fill in.
pub(crate) fn blank_tensor() -> sys::qsim_tensor {
    describe(DType::Undefined, &[])
}

/// The shape a tensor from qsim declares.
pub(crate) fn shape_of(tensor: &sys::qsim_tensor) -> Vec<i64> {
    tensor.shape[..tensor.rank.clamp(0, sys::QSIM_MAX_RANK as i32) as usize].to_vec()
}

/// Room for one output of the dtype and shape qsim_infer_shapes reported.
pub(crate) struct OutputBuffer {
    dtype: DType,
    data: ArrayData,
}

impl OutputBuffer {
    /// The buffer and the tensor qsim_run writes it through.
    pub(crate) fn new(described: &sys::qsim_tensor) -> Result<(OutputBuffer, sys::qsim_tensor)> {
        let dtype = DType::from_raw(described.dtype);
        let shape = shape_of(described);
        let len = element_count(&shape).ok_or_else(|| {
            Error::new(
                Status::Shape,
                format!("qsim gave an output of shape {shape:?}"),
            )
        })?;
        let mut buffer = OutputBuffer {
            dtype,
            data: ArrayData::zeroed(dtype, len)?,
        };
        let mut tensor = describe(dtype, &shape);
        // The Vec's heap block stays where it is when the buffer moves.
        tensor.data = buffer.data.as_mut_ptr();
        tensor.size_bytes = buffer.data.byte_len();
        Ok((buffer, tensor))
    }

    /// The array qsim_run wrote; `written` is the tensor after the call (its dtype, shape and
    /// size_bytes are the result's).
    pub(crate) fn into_array(self, written: &sys::qsim_tensor) -> Result<Array> {
        let shape = shape_of(written);
        let len = element_count(&shape).filter(|&len| len <= self.data.len());
        let mut data = match (DType::from_raw(written.dtype) == self.dtype, len) {
            (true, Some(len)) => {
                let mut data = self.data;
                data.truncate(len);
                data
            }
            _ => {
                return Err(Error::new(
                    Status::Internal,
                    format!(
                        "qsim_run wrote a {:?} {shape:?} output into room for {} {:?}",
                        DType::from_raw(written.dtype),
                        self.data.len(),
                        self.dtype
                    ),
                ))
            }
        };
        if let (DType::Bool, ArrayData::U8(bytes)) = (self.dtype, &data) {
            data = ArrayData::Bool(bytes.iter().map(|&byte| byte != 0).collect());
        }
        Ok(Array { shape, data })
    }
}
