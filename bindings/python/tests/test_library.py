"""Library discovery, versions and the session-less calls."""
import ctypes.util
import os
import subprocess

import pytest

import qsim
from qsim import _native


def pkg_config_libdir():
    return subprocess.run(["pkg-config", "--variable=libdir", "qsim"], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_pkg_config_finds_the_library_run_tests_installed():
    lib, path = _native.load_library(os.environ)
    assert path == os.path.join(pkg_config_libdir(), "libqsim.so")
    assert qsim.library_path() == path
    assert lib.qsim_version_number() == qsim.version_number()


def test_qsim_library_is_used_alone_and_named_when_it_fails(tmp_path):
    missing = str(tmp_path / "libqsim.so")
    with pytest.raises(qsim.LibraryError, match="QSIM_LIBRARY=.*libqsim.so"):
        _native.load_library({"QSIM_LIBRARY": missing, **os.environ})


def test_qsim_library_wins_over_pkg_config():
    _, path = _native.load_library({**os.environ, "QSIM_LIBRARY": qsim.library_path()})
    assert path == qsim.library_path()


@pytest.mark.skipif(ctypes.util.find_library("qsim") is not None,
                    reason="qsim is installed where the dynamic linker looks")
def test_the_error_names_every_place_tried(tmp_path):
    nowhere = {"PKG_CONFIG_PATH": str(tmp_path), "PKG_CONFIG_LIBDIR": str(tmp_path),
               "PATH": os.environ["PATH"]}
    with pytest.raises(qsim.LibraryError) as raised:
        _native.load_library(nowhere)
    message = str(raised.value)
    assert "QSIM_LIBRARY: not set" in message
    assert "pkg-config: no package 'qsim'" in message and str(tmp_path) in message
    assert "find_library('qsim'): not found" in message


def test_versions_agree():
    major, minor, patch = (int(part) for part in qsim.version().split("."))
    assert qsim.version_number() == major * 10000 + minor * 100 + patch
    assert subprocess.run(["pkg-config", "--modversion", "qsim"], check=True, capture_output=True,
                          text=True).stdout.strip() == qsim.version()


def test_kernel_path():
    path = qsim.kernel_path()
    assert path.name in ("avx512", "avx2", "baseline")
    assert path.report.startswith(path.name)


def test_describe_model(model_path):
    assert "input" in qsim.describe_model(model_path)
    assert qsim.describe_model(model_path, format="json").lstrip().startswith("{")


def test_a_session_less_error_carries_status_and_the_threads_message(tmp_path):
    missing = tmp_path / "absent.onnx"
    with pytest.raises(qsim.QsimIOError) as raised:
        qsim.describe_model(missing)
    assert raised.value.status == 2 and raised.value.status_name == "QSIM_ERR_IO"
    assert str(missing) in raised.value.message


def test_a_library_of_another_minor_version_is_refused(monkeypatch):
    monkeypatch.setattr(_native, "HEADER_MINOR", 99)  # as if the binding were for 0.99
    expected = rf"is qsim {qsim.version()}; this binding is for qsim 0\.99\.x"
    with pytest.raises(qsim.LibraryError, match=expected):
        _native.load_library({"QSIM_LIBRARY": qsim.library_path()})
