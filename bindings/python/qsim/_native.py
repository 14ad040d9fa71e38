"""Finds and loads libqsim (cffi ABI mode: dlopen, nothing compiled).

Discovery, first that applies:
  1. the environment variable QSIM_LIBRARY, a path to the library file (used alone: when it
     is set and cannot be loaded, nothing else is tried);
  2. the libdir of the pkg-config package `qsim` (found through PKG_CONFIG_PATH);
  3. ctypes.util.find_library("qsim") (the dynamic linker's cache and LD_LIBRARY_PATH).
"""
import ctypes.util
import functools
import os
import subprocess
import sys

import cffi

from ._cdef import CDEF, HEADER_MAJOR, HEADER_MINOR

ffi = cffi.FFI()
ffi.cdef(CDEF)

_FILE_NAMES = {"darwin": "libqsim.dylib", "win32": "qsim.dll"}
LIBRARY_FILE_NAME = _FILE_NAMES.get(sys.platform, "libqsim.so")


class LibraryError(OSError):
    """libqsim could not be found or loaded, or its version does not fit this binding."""


def _pkg_config_libdir(environ):
    """libdir of the pkg-config package qsim, or raises OSError saying why not."""
    try:
        done = subprocess.run(["pkg-config", "--variable=libdir", "qsim"], env=dict(environ),
                              capture_output=True, text=True, check=False)
    except OSError as exc:
        raise OSError(f"cannot run pkg-config ({exc})") from None
    libdir = done.stdout.strip()
    if done.returncode != 0 or not libdir:
        problem = done.stderr.strip().splitlines()
        raise OSError(f"no package 'qsim' ({problem[0] if problem else 'no libdir'}; "
                      f"PKG_CONFIG_PATH={environ.get('PKG_CONFIG_PATH', '')!r})")
    return libdir


def _check_version(lib, path):
    """Pre-1.0 every minor version has its own ABI (SONAME libqsim.so.0.MINOR): refuse others."""
    text = ffi.string(lib.qsim_version()).decode()
    major, minor = (int(part) for part in text.split(".")[:2])
    if (major, minor) != (HEADER_MAJOR, HEADER_MINOR):
        raise LibraryError(f"{path} is qsim {text}; this binding is for qsim "
                           f"{HEADER_MAJOR}.{HEADER_MINOR}.x")


def _candidates(environ, tried):
    """(how, path) pairs to dlopen in order; places that gave no path are noted in `tried`."""
    explicit = environ.get("QSIM_LIBRARY")
    if explicit:
        return [(f"QSIM_LIBRARY={explicit!r}", explicit)]  # the user's choice stands alone
    tried.append("QSIM_LIBRARY: not set")
    candidates = []
    try:
        libdir = _pkg_config_libdir(environ)
        candidates.append(("pkg-config", os.path.join(libdir, LIBRARY_FILE_NAME)))
    except OSError as exc:
        tried.append(f"pkg-config: {exc}")
    found = ctypes.util.find_library("qsim")
    if found:
        candidates.append(("ctypes.util.find_library('qsim')", found))
    else:
        tried.append("ctypes.util.find_library('qsim'): not found")
    return candidates


def load_library(environ):
    """Returns (lib, path) following the discovery order; LibraryError naming every attempt."""
    tried = []
    for how, path in _candidates(environ, tried):
        try:
            lib = ffi.dlopen(path)
        except OSError as exc:
            tried.append(f"{how}: {exc}")
            continue
        _check_version(lib, path)
        return lib, path
    raise LibraryError("cannot load libqsim; tried:\n  " + "\n  ".join(tried))


@functools.lru_cache(maxsize=None)
def _loaded():
    return load_library(os.environ)


def lib():
    """The loaded library (loaded on first use, once per process)."""
    return _loaded()[0]


def library_path():
    """The file libqsim was loaded from, as discovery found it."""
    return _loaded()[1]
