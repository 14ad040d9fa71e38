"""Python binding of qsim, post-training quantization and quantization simulation of ONNX
models, over its C API (cffi ABI mode: nothing to compile). See docs/BINDING_PYTHON.md."""
import os
from collections import namedtuple

from ._data import DataSource
from ._errors import (QsimBufferTooSmall, QsimCallbackError, QsimCancelled, QsimError,
                      QsimIncomplete, QsimInternalError, QsimInvalidArgument, QsimIOError,
                      QsimNumericError, QsimOutOfMemory, QsimParseError, QsimShapeError,
                      QsimStateError, QsimUnsupported, check)
from ._native import LibraryError, ffi, lib, library_path
from ._session import Encoding, Session, TensorInfo

KernelPath = namedtuple("KernelPath", "name report")


def version():
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return ffi.string(lib().qsim_version()).decode()


def version_number():
    """The loaded library's MAJOR * 10000 + MINOR * 100 + PATCH."""
    return int(lib().qsim_version_number())


def kernel_path():
    """KernelPath(name, report): the kernels this process uses ("avx512", "avx2" or
    "baseline") and a line for logs saying why."""
    name = ffi.new("const char**")
    report = ffi.new("const char**")
    check(lib().qsim_kernel_path(name, report))
    return KernelPath(ffi.string(name[0]).decode(), ffi.string(report[0]).decode())


def describe_model(path, format="text"):
    """A description of the model at path (inputs, outputs, ops, unsupported ops) as "text"
    or "json"; works for models qsim cannot run."""
    formats = {"text": lib().QSIM_FORMAT_TEXT, "json": lib().QSIM_FORMAT_JSON}
    if format not in formats:
        raise ValueError(f"format must be 'text' or 'json', not {format!r}")
    text = ffi.new("char**")
    check(lib().qsim_describe_model(os.fsencode(path), formats[format], text))
    try:
        return ffi.string(text[0]).decode()
    finally:
        lib().qsim_free(text[0])


__all__ = [
    "DataSource", "Encoding", "KernelPath", "LibraryError", "QsimBufferTooSmall",
    "QsimCallbackError", "QsimCancelled", "QsimError", "QsimIncomplete", "QsimIOError",
    "QsimInternalError", "QsimInvalidArgument", "QsimNumericError", "QsimOutOfMemory", "QsimParseError",
    "QsimShapeError", "QsimStateError", "QsimUnsupported", "Session", "TensorInfo",
    "describe_model", "kernel_path", "library_path", "version", "version_number",
]
