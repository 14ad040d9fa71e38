"""qsim.Session: one loaded model, its quantization and its exports."""
import os
import threading
from collections import namedtuple
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _options
from ._data import CallbackFailure, progress_for, reader_for
from ._errors import QsimIncomplete, check, check_session
from ._handle import NativeHandle
from ._native import ffi, lib
from ._tensors import fill_tensors, named_arrays, numpy_dtype

TensorInfo = namedtuple("TensorInfo", "name dtype shape")
TensorInfo.__doc__ = """A model input or output: name, numpy dtype (None when the model does
not say) and shape, None for a symbolic dimension."""

_ROLES = _options.enum_names("qsim_tensor_role", "QSIM_ROLE_")
_SYMMETRIES = _options.enum_names("qsim_symmetry", "QSIM_")
ROLE_NAMES = {value: name for name, value in _ROLES.items()}
SYMMETRY_NAMES = {value: name for name, value in _SYMMETRIES.items()}


@dataclass(frozen=True, eq=False)  # arrays have no single truth value: compare fields
class Encoding:
    """One tensor's encoding, AIMET's convention: q = clamp(round(x / scale) - offset, ...).
    role: "model_input", "activation", "weight" or "bias"; symmetry: "asymmetric",
    "symmetric", "strict_symmetric" or "unsigned_symmetric"; axis None for per-tensor;
    scales (float32) and offsets (int32) hold one value per channel."""
    name: str
    role: str
    quantized: bool
    bitwidth: int
    symmetry: str
    axis: Optional[int]
    scales: np.ndarray
    offsets: np.ndarray
    excluded_values: int


class Session(NativeHandle):
    """A model loaded from a path or from bytes. Keyword options are qsim_options' fields
    (weight_bits=4, per_channel=True, activation_calibration="percentile", ...); an unknown one
    is a TypeError. Calls on one session are serialized by a lock; close() or `with` frees it."""

    _kind = "Session"

    def __init__(self, model, **options):
        self._pointer = None
        self._lock = threading.RLock()  # re-entrant: a callback's call on it gets QSIM_ERR_STATE
        self._streaming = 0  # calls with callbacks running (a callback may start another)
        # alive: the option strings settings points at, kept until qsim_create has read them
        settings, alive = _options.make("qsim_options", options, _options.SESSION)
        out = ffi.new("qsim_session**")
        if isinstance(model, (bytes, bytearray, memoryview)):
            data = ffi.from_buffer(model)
            check(lib().qsim_create_from_memory(data, len(data), settings, out))
        else:
            check(lib().qsim_create(os.fsencode(model), settings, out))
        self._own(out[0], lib().qsim_destroy)
        self._inputs = self._io(lib().QSIM_INPUT)
        self._outputs = self._io(lib().QSIM_OUTPUT)

    # ---- lifetime --------------------------------------------------------------------------

    def _close_refusal(self):
        if self._streaming:
            return "a callback cannot close the Session whose call it serves"
        return None

    def _call(self, function, *args):
        """Calls function(session, *args) under the lock; QsimError with the session's message."""
        with self._lock:
            handle = self._handle()
            check_session(function(handle, *args), handle)

    # ---- the model -------------------------------------------------------------------------

    def _io(self, kind):
        count = ffi.new("size_t*")
        self._call(lib().qsim_io_count, kind, count)
        infos = []
        for index in range(count[0]):
            tensor = ffi.new("qsim_tensor*")
            self._call(lib().qsim_io_info, kind, index, tensor)
            shape = tuple(None if d < 0 else d for d in tensor.shape[0:tensor.rank])
            infos.append(TensorInfo(ffi.string(tensor.name).decode(), numpy_dtype(tensor.dtype),
                                    shape))
        return infos

    def inputs(self):
        """[TensorInfo] of the model's inputs, in model order."""
        return list(self._inputs)

    def outputs(self):
        """[TensorInfo] of the model's outputs, in model order."""
        return list(self._outputs)

    def run(self, inputs, quantized=False):
        """Runs the float model (or, quantized=True, the quantization simulation) and returns its
        outputs as new numpy arrays, in model order. inputs: an array (single-input model), a
        list/tuple in model input order or a dict by name; cast to the model's dtypes."""
        arrays = named_arrays(inputs, self._inputs)
        tensors = ffi.new("qsim_tensor[]", len(arrays))
        alive = fill_tensors(tensors, arrays)  # the buffers qsim reads and writes, until it returns
        outputs = ffi.new("qsim_tensor[]", len(self._outputs))
        mode = lib().QSIM_RUN_QUANTIZED if quantized else lib().QSIM_RUN_FLOAT
        with self._lock:
            self._call(lib().qsim_infer_shapes, tensors, len(arrays), outputs, len(self._outputs))
            results = [np.empty(tuple(out.shape[0:out.rank]), numpy_dtype(out.dtype))
                       for out in outputs]
            alive += fill_tensors(outputs, [(None, result) for result in results])
            self._call(lib().qsim_run, mode, tensors, len(arrays), outputs, len(self._outputs))
        return results

    # ---- quantization ----------------------------------------------------------------------

    def _stream(self, function, data, progress, options=None):
        """Runs one of qsim's calls that read calibration data (function(session, reader,
        reader_data, [options,] progress, progress_data)); a callback's exception is raised as
        itself after the call, before any QsimError."""
        failure = CallbackFailure()
        progress_fn, progress_data = progress_for(progress, failure)
        with reader_for(data, self._inputs, failure) as (reader, reader_data):
            with self._lock:
                handle = self._handle()
                middle = () if options is None else (options,)
                self._streaming += 1
                try:
                    status = function(handle, reader, reader_data, *middle, progress_fn,
                                      progress_data)
                finally:
                    self._streaming -= 1
                failure.raise_if_any()
                check_session(status, handle)

    def calibrate(self, data, progress=None):
        """Computes weight encodings and calibrates activation encodings on `data` (a
        DataSource, an iterable of batches or a callable returning one). progress(done, total,
        message) is called after each batch; a true result cancels (QsimCancelled)."""
        self._stream(lib().qsim_calibrate, data, progress)

    def smooth_quant(self, data, progress=None, **options):
        """SmoothQuant before calibration; options: alpha (default 0.5), num_samples (512)."""
        settings, _ = _options.make("qsim_smooth_quant_options", options, {})
        self._stream(lib().qsim_smooth_quant, data, progress, settings)

    def adaround(self, data, progress=None, **options):
        """AdaRound, AdaQuant or bias correction after calibration. options are
        qsim_adaround_options' fields; mode is "adaround" (default), "adaquant",
        "bias_correction" or "bias_correction_analytical"."""
        settings, _ = _options.make("qsim_adaround_options", options, _options.ADAROUND)
        self._stream(lib().qsim_adaround, data, progress, settings)

    def load_encodings(self, path):
        """Loads and freezes encodings (qsim FlatBuffers or AIMET JSON)."""
        self._call(lib().qsim_load_encodings, os.fsencode(path))

    def encodings(self):
        """[Encoding]: activations in graph order, then weights and biases ([] before
        calibration or loading)."""
        with self._lock:
            count = ffi.new("size_t*")
            self._call(lib().qsim_encoding_count, count)
            return [self._encoding(index) for index in range(count[0])]

    def _encoding(self, index):
        info = ffi.new("qsim_encoding_info*")
        info.struct_size = ffi.sizeof("qsim_encoding_info")
        self._call(lib().qsim_get_encoding, index, info)
        scales = np.empty(info.num_channels, np.float32)
        offsets = np.empty(info.num_channels, np.int32)
        self._call(lib().qsim_get_encoding_channels, index, ffi.from_buffer("float[]", scales),
                   ffi.from_buffer("int32_t[]", offsets), info.num_channels)
        return Encoding(name=ffi.string(info.name).decode(), role=ROLE_NAMES[info.role],
                        quantized=bool(info.quantized), bitwidth=info.bitwidth,
                        symmetry=SYMMETRY_NAMES[info.symmetry],
                        axis=None if info.axis < 0 else info.axis, scales=scales,
                        offsets=offsets, excluded_values=info.excluded_values)

    def notes(self):
        """qsim's remarks on the quantization, one per line; the first lists the techniques."""
        text = ffi.new("char**")
        self._call(lib().qsim_get_notes, text)
        try:
            return ffi.string(text[0]).decode()
        finally:
            lib().qsim_free(text[0])

    def export(self, out_dir, **options):
        """Writes the chosen files into out_dir. options are qsim_export_options' fields:
        formats ("all" by default, or a collection of "encodings_fbs", "aimet_json_0_6_1",
        "aimet_json_1_0_0", "onnx_rounded", "onnx_qdq"), basename ("model"),
        qdq_int8_activations (False), qdq_wide_form ("microsoft" or "opset21")."""
        settings, alive = _options.make("qsim_export_options", options, _options.EXPORT)
        try:
            self._call(lib().qsim_export, os.fsencode(out_dir), settings)
        except QsimIncomplete as partial:
            partial.written = self.exported_formats()
            raise

    def exported_formats(self):
        """The format names (as export's formats take them) the last export wrote: a format
        that could not be built is skipped while the others are written (QsimIncomplete)."""
        bits = ffi.new("uint32_t*")
        self._call(lib().qsim_exported_formats, bits)
        table = _options.enum_names("qsim_export_format", "QSIM_EXPORT_")
        return frozenset(name for name, flag in table.items()
                         if name != "all" and bits[0] & flag == flag)
