"""Calibration data for qsim: DataSource (read by the library) and Python batches fed through a
cffi callback, plus the progress callback. Exceptions raised inside callbacks are kept and
raised again, as themselves, once the C call has returned."""
import os
import threading
from contextlib import contextmanager

import numpy as np

from ._errors import check
from ._handle import NativeHandle
from ._native import ffi, lib
from ._tensors import as_qsim_array, fill_tensor, fill_tensors, named_arrays


class DataSource(NativeHandle):
    """Calibration samples qsim reads itself, in batches of batch_size. Every call it is given to
    starts from its first sample, so one source serves calibrate() then adaround(). Build one
    with from_npy() or from_arrays(); close() (or `with`) frees it, as does garbage collection."""

    _kind = "DataSource"

    def __init__(self, pointer):
        self._lock = threading.RLock()
        self._busy = False
        self._own(pointer, lib().qsim_data_source_destroy)

    @classmethod
    def from_npy(cls, paths, batch_size):
        """One .npy file per model input (model input order), each [N, ...] with the same N;
        a single path for a single-input model. Read batch_size rows at a time."""
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        names = [ffi.new("char[]", os.fsencode(path)) for path in paths]
        out = ffi.new("qsim_data_source**")
        check(lib().qsim_data_source_from_npy(ffi.new("char*[]", names), len(names),
                                              batch_size, out))
        return cls(out[0])

    @classmethod
    def from_arrays(cls, arrays, batch_size):
        """arrays[i] holds input i's samples [N, ...] (a single array for a single-input model).
        qsim copies them: the arrays may change or go once this returns. Floats become float32."""
        if isinstance(arrays, np.ndarray):
            arrays = [arrays]
        arrays = [as_qsim_array(array) for array in arrays]
        tensors = ffi.new("qsim_tensor[]", len(arrays))
        alive = [fill_tensor(tensors[i], array) for i, array in enumerate(arrays)]
        out = ffi.new("qsim_data_source**")
        status = lib().qsim_data_source_from_memory(tensors, len(arrays), batch_size, out)
        del alive  # qsim has copied the arrays: the source does not need them
        check(status)
        return cls(out[0])

    def __len__(self):
        """The number of samples N."""
        count = ffi.new("int64_t*")
        check(lib().qsim_data_source_samples(self._handle(), count))
        return int(count[0])

    def _close_refusal(self):
        return "the DataSource is in use by a running call" if self._busy else None

    @contextmanager
    def in_use(self):
        """Holds the source for one C call: qsim reads a source for one call at a time. Another
        thread waits; a callback reusing the source within its own call is an error."""
        with self._lock:
            if self._busy:
                raise RuntimeError("the DataSource is already being read by the call this "
                                   "callback serves")
            self._busy = True
            try:
                yield self._handle()
            finally:
                self._busy = False


class CallbackFailure:
    """The first exception a callback of one C call raised, to raise after the call."""

    def __init__(self):
        self.exception = None

    def record(self, exception):
        if self.exception is None:
            self.exception = exception
        return -1  # the callback failed: the C call stops with QSIM_ERR_CALLBACK

    def raise_if_any(self):
        if self.exception is not None:
            exception, self.exception = self.exception, None
            # Raised as itself: its traceback still shows the line in the callback that failed.
            raise exception


_END = object()  # what next() gives when the batches run out


class PythonReader:
    """A qsim_data_reader_fn over Python batches: each is an array, a list/tuple of arrays
    (model input order) or a dict by input name. The batch handed to qsim is held until the
    next call, as the C API requires, and released when the C call is over."""

    def __init__(self, batches, declared, failure):
        self._batches = batches
        self._declared = declared
        self._failure = failure
        self._held = None
        self.callback = ffi.callback("qsim_data_reader_fn", self._read)

    def _read(self, _user_data, inputs, num_inputs):
        try:
            self._held = None
            batch = next(self._batches, _END)
            if batch is _END:
                return 0
            arrays = named_arrays(batch, self._declared)
            if len(arrays) > num_inputs:
                raise ValueError(f"a batch of {len(arrays)} arrays for a model of {num_inputs} "
                                 "inputs")
            self._held = fill_tensors(inputs, arrays)
            return 1
        except BaseException as exc:  # also KeyboardInterrupt: it must not cross the C frames
            return self._failure.record(exc)

    def release(self):
        self._held = None


class Progress:
    """A qsim_progress_fn calling fn(done, total, message); a true result cancels the call."""

    def __init__(self, fn, failure):
        self._fn = fn
        self._failure = failure
        self.callback = ffi.callback("qsim_progress_fn", self._report)

    def _report(self, _user_data, done, total, message):
        try:
            text = ffi.string(message).decode(errors="replace") if message else ""
            return 1 if self._fn(done, total, text) else 0
        except BaseException as exc:
            return self._failure.record(exc)


@contextmanager
def reader_for(data, declared, failure):
    """(reader, reader_data) for `data`: a DataSource, a callable returning an iterable of
    batches (called once per C call), or an iterable of batches (iter() once per C call: a list
    serves every call, a generator only one)."""
    if isinstance(data, DataSource):
        with data.in_use() as source:
            yield lib().qsim_data_source_read, source
        return
    batches = data() if callable(data) else data
    reader = PythonReader(iter(batches), declared, failure)
    try:
        yield reader.callback, ffi.NULL
    finally:
        reader.release()


def progress_for(fn, failure):
    """(progress, progress_data) for a Python callable or None."""
    if fn is None:
        return ffi.NULL, ffi.NULL
    return Progress(fn, failure).callback, ffi.NULL
