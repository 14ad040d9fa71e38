"""numpy keeps its OpenBLAS thread count across qsim calls (issue 23): OpenBLAS has one count
per process, and qsim holds it at 1 only while one of its calls computes."""
import ctypes
import os

import numpy as np
import pytest

import qsim
from helpers import batches_of


def loaded_openblas():
    """The OpenBLAS numpy loaded in this process (numpy's bundled copy or the system's, which
    Debian's numpy reaches through libblas.so.3), with its thread-count functions."""
    np.dot(np.ones((64, 64)), np.ones((64, 64)))  # numpy's BLAS is loaded and initialised
    with open("/proc/self/maps", encoding="utf-8") as maps:
        paths = {line.split()[-1] for line in maps if "/" in line}
    for path in sorted(path for path in paths if "openblas" in os.path.basename(path)):
        library = ctypes.CDLL(path)
        for suffix in ("", "64_"):  # numpy's bundled ILP64 OpenBLAS suffixes its symbols
            if hasattr(library, "openblas_get_num_threads" + suffix):
                return (path, getattr(library, "openblas_get_num_threads" + suffix),
                        getattr(library, "openblas_set_num_threads" + suffix))
    pytest.fail("numpy loaded no OpenBLAS: " + ", ".join(sorted(paths)))


@pytest.fixture
def openblas_threads():
    path, get, set_ = loaded_openblas()
    original = get()
    yield path, get, set_
    set_(original)


def test_the_probe_sees_a_change(openblas_threads):
    _, get, set_ = openblas_threads
    set_(1)
    assert get() == 1
    set_(2)
    assert get() == 2


def test_qsim_shares_numpys_openblas(openblas_threads):
    """Otherwise the test below would prove nothing: qsim must load the same OpenBLAS."""
    path, _, _ = openblas_threads
    qsim.version()
    with open("/proc/self/maps", encoding="utf-8") as maps:
        loaded = {line.split()[-1] for line in maps if "openblas" in line}
    assert {p for p in loaded if os.path.basename(p).startswith("libopenblas")} == {path}


def test_numpy_keeps_its_thread_count_across_qsim_calls(openblas_threads, model_path, samples):
    _, get, set_ = openblas_threads
    set_(2)
    during = []
    session = qsim.Session(model_path)
    assert get() == 2
    session.calibrate(batches_of(samples, 128), progress=lambda *_: during.append(get()))
    assert get() == 2
    session.adaround(batches_of(samples, 64), num_iterations=5, num_samples=64)
    assert get() == 2
    session.close()
    assert get() == 2
    # while the call computed, OpenBLAS was held at one thread, as the header says
    assert during == [1, 1, 1, 1]
