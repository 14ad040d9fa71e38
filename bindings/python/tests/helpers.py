"""Helpers the tests share."""
import numpy as np

BATCH = 32


def batches_of(samples, count=None):
    """The samples as a list of BATCH-row arrays (a Python reader's batches)."""
    samples = samples[:count]
    return [samples[i:i + BATCH] for i in range(0, len(samples), BATCH)]


def assert_same_encodings(first, second):
    assert len(first) == len(second) > 0
    for a, b in zip(first, second):
        assert (a.name, a.role, a.bitwidth, a.symmetry, a.axis) == \
               (b.name, b.role, b.bitwidth, b.symmetry, b.axis)
        np.testing.assert_array_equal(a.scales, b.scales, err_msg=a.name)
        np.testing.assert_array_equal(a.offsets, b.offsets, err_msg=a.name)
