"""Sessions on separate Python threads are independent, and each error keeps its own message."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import qsim
from helpers import batches_of


def test_sessions_on_threads_compute_what_they_compute_alone(model_path, samples):
    def quantize(count):
        with qsim.Session(model_path, num_threads=1) as session:
            session.calibrate(batches_of(samples, count))
            return session.run(samples[:16], quantized=True)[0]

    alone = [quantize(64), quantize(128)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(quantize, [64, 128, 64, 128]))
    for index, logits in enumerate(together):
        np.testing.assert_array_equal(logits, alone[index % 2])


def test_errors_on_threads_keep_their_own_messages(tmp_path):
    def fail(index):
        missing = tmp_path / f"model_{index}.onnx"
        with pytest.raises(qsim.QsimIOError) as raised:
            qsim.Session(missing)
        return str(missing) in raised.value.message

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(fail, range(40)))


def test_one_session_shared_by_threads_is_serialized(session, samples):
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: session.run(samples[:8])[0], range(8)))
    for logits in results[1:]:
        np.testing.assert_array_equal(logits, results[0])
