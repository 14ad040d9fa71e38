"""Python readers and progress callbacks: exceptions come back as themselves, a true progress
result cancels, and a failed call leaves the session as it was."""
import traceback

import numpy as np
import pytest

import qsim
from helpers import BATCH, assert_same_encodings, batches_of


class ReaderBroke(Exception):
    pass


class ProgressBroke(Exception):
    pass


def failing_reader(samples, after, error):
    """Yields `after` batches, then raises `error`."""
    for batch in batches_of(samples)[:after]:
        yield batch
    raise error


def test_a_reader_exception_is_raised_as_itself(session, samples):
    error = ReaderBroke("batch 3 is missing")
    with pytest.raises(ReaderBroke) as raised:
        session.calibrate(failing_reader(samples, 2, error))
    assert raised.value is error and not isinstance(raised.value, qsim.QsimError)
    # its traceback still reaches the line in the reader that raised it
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "failing_reader" in frames
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert session.encodings() == []  # the session is as it was


def test_a_progress_exception_is_raised_as_itself(session, samples):
    def progress(done, total, message):
        if done == 3:
            raise ProgressBroke(message)

    with pytest.raises(ProgressBroke, match="calibration batch 3"):
        session.calibrate(batches_of(samples), progress=progress)
    assert session.encodings() == []
    session.calibrate(batches_of(samples))  # and stays usable
    assert session.encodings()


def test_keyboard_interrupt_in_a_reader_comes_back(session, samples):
    with pytest.raises(KeyboardInterrupt):
        session.calibrate(failing_reader(samples, 1, KeyboardInterrupt()))


def test_a_bad_batch_is_the_readers_exception(session, samples):
    with pytest.raises(TypeError, match="inputs must be a numpy array"):
        session.calibrate(["not an array"])
    with pytest.raises(ValueError, match="a batch of 2 arrays for a model of 1 inputs"):
        session.calibrate([(samples[:4], samples[:4])])


def test_a_true_progress_result_cancels(session, samples):
    calls = []

    def stop_at_two(done, total, message):
        calls.append((done, total, message))
        return done == 2

    with pytest.raises(qsim.QsimCancelled) as raised:
        session.calibrate(batches_of(samples), progress=stop_at_two)
    assert raised.value.status == 7 and raised.value.status_name == "QSIM_ERR_CANCELLED"
    assert [done for done, _, _ in calls] == [1, 2] and calls[0][1] == -1
    assert session.encodings() == []


def test_cancelling_adaround_keeps_the_calibration(session, samples):
    data = batches_of(samples, 64)
    session.calibrate(data)
    before = session.encodings()
    with pytest.raises(qsim.QsimCancelled):
        session.adaround(data, num_iterations=5, num_samples=64, progress=lambda *_: True)
    assert_same_encodings(session.encodings(), before)
    assert "adaround" not in session.notes().splitlines()[0]


def test_progress_sees_done_and_total(session, samples):
    data = batches_of(samples, 64)
    session.calibrate(data)
    seen = []
    session.adaround(data, num_iterations=5, num_samples=64,
                     progress=lambda done, total, message: seen.append((done, total, message)))
    assert seen[-1][0] == seen[-1][1] > 0 and seen[-1][2].startswith("adaround:")
    assert "adaround" in session.notes().splitlines()[0]


def test_a_generator_serves_one_call_a_list_or_a_factory_every_call(session, samples):
    session.calibrate(batch for batch in batches_of(samples, 64))
    drained = (batch for batch in batches_of(samples, 64))
    session.calibrate(drained)
    with pytest.raises(qsim.QsimInvalidArgument):  # a reader that gives no batch
        session.calibrate(drained)
    session.adaround(lambda: (batch for batch in batches_of(samples, 64)), num_iterations=5,
                     num_samples=64)


def test_a_callback_calling_its_own_session_gets_a_state_error(session, samples):
    def peek(done, total, message):
        session.notes()

    with pytest.raises(qsim.QsimStateError):
        session.calibrate(batches_of(samples, 64), progress=peek)
    session.calibrate(batches_of(samples, 64))
    assert session.encodings()


def test_a_callback_may_use_another_session(model_path, session, samples):
    with qsim.Session(model_path) as other:
        outputs = []
        session.calibrate(batches_of(samples, 64),
                          progress=lambda *_: outputs.append(other.run(samples[:1])[0]))
    assert len(outputs) == 2


def test_batches_built_on_the_fly_stay_alive_while_qsim_reads_them(session, samples, model_path):
    def fresh_copies():
        for start in range(0, len(samples), BATCH):
            yield samples[start:start + BATCH].astype(np.float64)  # only qsim's reader holds it

    session.calibrate(fresh_copies)
    with qsim.Session(model_path) as reference:
        reference.calibrate(batches_of(samples))
        assert_same_encodings(session.encodings(), reference.encodings())


def test_a_callback_cannot_close_the_session_it_serves(session, samples):
    with pytest.raises(RuntimeError, match="cannot close"):
        session.calibrate(batches_of(samples, 64), progress=lambda *_: session.close())
    assert not session.closed
    session.calibrate(batches_of(samples, 64))
