"""DataSource: the library's own readers over .npy files and copied arrays."""
import numpy as np
import pytest

import qsim
from helpers import BATCH, assert_same_encodings, batches_of


def calibrated(model_path, data):
    with qsim.Session(model_path) as session:
        session.calibrate(data)
        return session.encodings()


def quantized_logits(model_path, data, probe, adaround):
    """Quantized logits of `probe` after calibrate(data) and, if asked, adaround(data)."""
    with qsim.Session(model_path) as session:
        session.calibrate(data)
        if adaround:
            session.adaround(data, num_iterations=10, num_samples=64)
            assert "adaround" in session.notes().splitlines()[0]
        return session.run(probe, quantized=True)[0]


def test_npy_arrays_and_python_batches_give_the_same_encodings(model_path, calib_path, samples):
    with qsim.DataSource.from_npy(calib_path, BATCH) as source:
        from_npy = calibrated(model_path, source)
    with qsim.DataSource.from_arrays(samples, BATCH) as source:
        from_arrays = calibrated(model_path, source)
    assert_same_encodings(from_arrays, from_npy)
    assert_same_encodings(calibrated(model_path, batches_of(samples)), from_npy)


def test_one_source_serves_calibrate_then_adaround(model_path, calib_path, samples):
    probe = samples[:64]
    with qsim.DataSource.from_npy([calib_path], BATCH) as source:
        assert len(source) == len(samples)
        reused = quantized_logits(model_path, source, probe, adaround=True)
    # adaround read the same samples as from a list given twice, and it changed the model
    np.testing.assert_array_equal(
        reused, quantized_logits(model_path, batches_of(samples), probe, adaround=True))
    assert not np.array_equal(
        reused, quantized_logits(model_path, batches_of(samples), probe, adaround=False))


def test_from_arrays_copies(model_path, samples):
    changing = samples.copy()
    with qsim.DataSource.from_arrays([changing], BATCH) as source:
        changing[:] = 0  # after the call: qsim has its own copy
        assert_same_encodings(calibrated(model_path, source),
                              calibrated(model_path, batches_of(samples)))


def test_a_missing_npy_file_is_named(tmp_path):
    missing = tmp_path / "absent.npy"
    with pytest.raises(qsim.QsimIOError) as raised:
        qsim.DataSource.from_npy(missing, BATCH)
    assert raised.value.status == 2 and str(missing) in raised.value.message


def test_bad_arguments(calib_path, samples):
    with pytest.raises(qsim.QsimInvalidArgument):
        qsim.DataSource.from_npy(calib_path, 0)
    with pytest.raises(qsim.QsimInvalidArgument):
        qsim.DataSource.from_arrays([samples, samples[:10]], BATCH)  # differing N
    with pytest.raises(TypeError, match="complex128"):
        qsim.DataSource.from_arrays(samples.astype(np.complex128), BATCH)


def test_a_closed_source_is_refused(session, calib_path):
    source = qsim.DataSource.from_npy(calib_path, BATCH)
    source.close()
    with pytest.raises(ValueError, match="closed"):
        session.calibrate(source)


def test_a_callback_cannot_reuse_the_source_its_call_reads(model_path, session, calib_path):
    with qsim.DataSource.from_npy(calib_path, BATCH) as source, \
            qsim.Session(model_path) as other:
        with pytest.raises(RuntimeError, match="already being read"):
            session.calibrate(source, progress=lambda *_: other.calibrate(source))


def test_a_callback_cannot_close_the_source_its_call_reads(session, calib_path):
    with qsim.DataSource.from_npy(calib_path, BATCH) as source:
        with pytest.raises(RuntimeError, match="in use"):
            session.calibrate(source, progress=lambda *_: source.close())
        assert len(source) > 0
