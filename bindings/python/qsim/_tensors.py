"""numpy arrays <-> qsim_tensor."""
import numpy as np

from ._native import ffi

MAX_RANK = 8  # QSIM_MAX_RANK

_NUMPY_OF_QSIM = {
    "QSIM_DTYPE_FLOAT32": np.dtype(np.float32),
    "QSIM_DTYPE_UINT8": np.dtype(np.uint8),
    "QSIM_DTYPE_INT8": np.dtype(np.int8),
    "QSIM_DTYPE_UINT16": np.dtype(np.uint16),
    "QSIM_DTYPE_INT16": np.dtype(np.int16),
    "QSIM_DTYPE_INT32": np.dtype(np.int32),
    "QSIM_DTYPE_INT64": np.dtype(np.int64),
    "QSIM_DTYPE_BOOL": np.dtype(np.bool_),
}
_QSIM_VALUES = ffi.typeof("qsim_dtype").relements
NUMPY_DTYPE = {_QSIM_VALUES[name]: dtype for name, dtype in _NUMPY_OF_QSIM.items()}
QSIM_DTYPE = {dtype: value for value, dtype in NUMPY_DTYPE.items()}


def numpy_dtype(qsim_dtype):
    """The numpy dtype of a qsim_dtype, None for QSIM_DTYPE_UNDEFINED."""
    return NUMPY_DTYPE.get(int(qsim_dtype))


def as_qsim_array(value, dtype=None):
    """A C-ordered array qsim can read: cast to `dtype` (the model's, when it declares one)
    as far as numpy's same_kind casting allows (float64 -> float32, never float -> int);
    without one, floats become float32, qsim's only float type."""
    array = np.asarray(value)
    if dtype is None and array.dtype.kind == "f":
        dtype = np.float32
    if dtype is not None:
        array = array.astype(dtype, casting="same_kind", copy=False)
    if array.dtype not in QSIM_DTYPE:
        raise TypeError(f"qsim has no dtype for numpy {array.dtype}; it takes "
                        + ", ".join(str(d) for d in QSIM_DTYPE))
    if array.ndim > MAX_RANK:
        raise ValueError(f"an array of rank {array.ndim}; qsim takes at most {MAX_RANK}")
    return np.ascontiguousarray(array)


def fill_tensor(tensor, array, name=None):
    """Points `tensor` at `array` (C-ordered, from as_qsim_array). Returns the cdata that must
    stay alive as long as qsim may read the tensor."""
    name_cdata = ffi.new("char[]", name.encode()) if name is not None else ffi.NULL
    data = ffi.from_buffer(array, require_writable=array.flags.writeable)
    tensor.name = name_cdata
    tensor.dtype = QSIM_DTYPE[array.dtype]
    tensor.rank = array.ndim
    tensor.shape[0:array.ndim] = array.shape
    tensor.data = data
    tensor.size_bytes = array.nbytes
    return (name_cdata, data, array)


def named_arrays(values, declared):
    """[(name or None, array)] from an array, a list/tuple of arrays (model input order) or a
    dict {input name: array}; each array cast to the dtype `declared` (TensorInfo list) gives."""
    if isinstance(values, dict):
        dtypes = {info.name: info.dtype for info in declared}
        return [(name, as_qsim_array(value, dtypes.get(name))) for name, value in values.items()]
    if isinstance(values, (list, tuple)):
        dtypes = [info.dtype for info in declared] + [None] * len(values)
        return [(None, as_qsim_array(value, dtype)) for value, dtype in zip(values, dtypes)]
    if isinstance(values, np.ndarray):
        return [(None, as_qsim_array(values, declared[0].dtype if declared else None))]
    raise TypeError("inputs must be a numpy array, a list or tuple of them (model input order) "
                    f"or a dict of them by input name, not {type(values).__name__}")


def fill_tensors(tensors, arrays):
    """Fills tensors[i] from named_arrays' output; returns what must stay alive."""
    return [fill_tensor(tensors[i], array, name) for i, (name, array) in enumerate(arrays)]
