"""Sessions: options, inference float and quantized, encodings, notes, export, errors."""
import numpy as np
import pytest

import qsim
from helpers import assert_same_encodings, batches_of


def test_inputs_and_outputs(session):
    assert session.inputs() == [qsim.TensorInfo("input", np.dtype(np.float32), (None, 1, 28, 28))]
    assert session.outputs() == [qsim.TensorInfo("logits", np.dtype(np.float32), (None, 10))]


def test_float_run_takes_arrays_lists_dicts_and_casts_float64(session, samples):
    batch = samples[:5]
    logits, = session.run(batch)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    assert np.all(np.isfinite(logits)) and np.ptp(logits) > 1
    np.testing.assert_array_equal(session.run([batch])[0], logits)
    np.testing.assert_array_equal(session.run({"input": batch})[0], logits)
    np.testing.assert_array_equal(session.run(batch.astype(np.float64))[0], logits)
    # one sample alone gives the same logits as within the batch
    np.testing.assert_allclose(session.run(batch[2:3])[0][0], logits[2], rtol=1e-5, atol=1e-5)


def test_quantized_run_follows_calibration(session, samples):
    batch = samples[:64]
    with pytest.raises(qsim.QsimError) as raised:
        session.run(batch, quantized=True)
    assert raised.value.message  # the session's message says why
    session.calibrate(batches_of(samples))
    floats, = session.run(batch)
    quantized, = session.run(batch, quantized=True)
    assert quantized.shape == floats.shape
    assert not np.array_equal(quantized, floats)  # simulation changes the values ...
    agreement = np.mean(quantized.argmax(axis=1) == floats.argmax(axis=1))
    assert agreement > 0.9  # ... but not the predictions (8 bits)


def test_a_missing_model_names_the_file(tmp_path):
    missing = tmp_path / "no_such_model.onnx"
    with pytest.raises(qsim.QsimError) as raised:
        qsim.Session(missing)
    error = raised.value
    assert isinstance(error, qsim.QsimIOError)
    assert error.status == 2 and error.status_name == "QSIM_ERR_IO"
    assert str(missing) in error.message and str(missing) in str(error)


def test_a_corrupt_model_in_memory_is_a_parse_error():
    with pytest.raises(qsim.QsimParseError) as raised:
        qsim.Session(b"not an onnx model")
    assert raised.value.status == 3


def test_a_model_from_bytes_runs_as_from_its_path(model_path, session, samples):
    with qsim.Session(model_path.read_bytes()) as from_bytes:
        np.testing.assert_array_equal(from_bytes.run(samples[:3])[0], session.run(samples[:3])[0])


def test_options_reach_qsim(model_path, samples):
    with qsim.Session(model_path, weight_bits=4, per_channel=True,
                      activation_calibration="minmax") as session:
        session.calibrate(batches_of(samples, 64))
        weights = [e for e in session.encodings() if e.role == "weight"]
    assert weights and all(e.bitwidth == 4 for e in weights)
    assert weights[0].axis == 0 and len(weights[0].scales) > 1


def test_unknown_or_invalid_options(model_path):
    with pytest.raises(TypeError, match="unknown option 'weight_bit'.*weight_bits"):
        qsim.Session(model_path, weight_bit=4)
    with pytest.raises(qsim.QsimInvalidArgument, match="weight_bits"):
        qsim.Session(model_path, weight_bits=1)
    with pytest.raises(qsim.QsimInvalidArgument, match="minmax"):
        qsim.Session(model_path, activation_calibration="bogus")
    with pytest.raises(ValueError, match="exclude, reject"):
        qsim.Session(model_path, nan_policy="bogus")


def test_a_session_error_carries_the_sessions_message(session, tmp_path):
    with pytest.raises(qsim.QsimStateError) as raised:
        session.export(tmp_path / "out")
    assert raised.value.status == 6 and raised.value.message
    assert not (tmp_path / "out").exists()


def test_encodings_notes_export_and_load(model_path, session, samples, tmp_path):
    assert session.encodings() == []
    session.calibrate(batches_of(samples))
    encodings = session.encodings()
    roles = {e.role for e in encodings}
    assert roles >= {"model_input", "activation", "weight"}
    for e in encodings:
        assert e.scales.dtype == np.float32 and e.offsets.dtype == np.int32
        assert len(e.scales) == len(e.offsets) >= 1
    assert session.notes().splitlines()[0].startswith("techniques applied, in order:")

    session.export(tmp_path, formats=["encodings_fbs", "aimet_json_1_0_0"], basename="net")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.encodings.fbs",
                                                           "net.encodings.v1.json"]
    with qsim.Session(model_path) as loaded:
        loaded.load_encodings(tmp_path / "net.encodings.fbs")
        assert_same_encodings(loaded.encodings(), encodings)
        np.testing.assert_array_equal(loaded.run(samples[:8], quantized=True)[0],
                                      session.run(samples[:8], quantized=True)[0])


def test_export_options_are_checked(session, samples, tmp_path):
    session.calibrate(batches_of(samples, 64))
    with pytest.raises(ValueError, match="onnx_qdq"):
        session.export(tmp_path, formats="qdq")
    with pytest.raises(TypeError, match="unknown option 'base_name'"):
        session.export(tmp_path, base_name="x")


def test_a_format_that_cannot_be_built_is_skipped(model_path, samples, tmp_path):
    # 12-bit activations: the QDQ model cannot hold them, the four other files are written.
    with qsim.Session(model_path, activation_bits=12) as session:
        session.calibrate(batches_of(samples, 64))
        assert session.exported_formats() == frozenset()
        with pytest.raises(qsim.QsimIncomplete, match=r"skipped model\.qdq\.onnx.*12-bit") as raised:
            session.export(tmp_path)
        written = {"encodings_fbs", "aimet_json_0_6_1", "aimet_json_1_0_0", "onnx_rounded"}
        assert raised.value.written == written == session.exported_formats()
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "model.encodings.fbs", "model.encodings.json", "model.encodings.v1.json",
            "model.onnx"]
        assert "export: skipped model.qdq.onnx" in session.notes()
        with pytest.raises(qsim.QsimUnsupported, match="nothing was written"):
            session.export(tmp_path / "qdq", formats="onnx_qdq")
        assert not (tmp_path / "qdq").exists() and session.exported_formats() == frozenset()


def test_the_context_manager_closes(model_path, samples):
    with qsim.Session(model_path) as session:
        assert not session.closed
    assert session.closed
    with pytest.raises(ValueError, match="closed"):
        session.run(samples[:1])
    session.close()  # twice is allowed


def test_smooth_quant_before_calibration(session, samples):
    with pytest.raises(TypeError, match="unknown option 'strength'.*alpha"):
        session.smooth_quant(batches_of(samples, 64), strength=0.5)
    with pytest.raises(qsim.QsimInvalidArgument, match="alpha"):
        session.smooth_quant(batches_of(samples, 64), alpha=2.0)
    session.smooth_quant(batches_of(samples, 64), alpha=0.5, num_samples=64)
    with pytest.raises(qsim.QsimStateError):  # at most once
        session.smooth_quant(batches_of(samples, 64))
    session.calibrate(batches_of(samples, 64))
    assert "smooth_quant" in session.notes().splitlines()[0]


def test_adaround_modes_by_name(session, samples):
    data = batches_of(samples, 64)
    session.calibrate(data)
    names = "adaquant, adaround, bias_correction, bias_correction_analytical"
    with pytest.raises(ValueError, match=names):
        session.adaround(data, mode="adaquantize")
    session.adaround(data, mode="bias_correction", num_samples=64)
    assert "bias_correction" in session.notes().splitlines()[0]
