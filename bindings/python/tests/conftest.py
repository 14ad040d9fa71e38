"""Shared fixtures. The data come from the environment run_tests.sh sets:
QSIM_TEST_CALIB (a float32 .npy [N, 1, 28, 28]) and QSIM_TEST_MODEL (default: the repository's
models/resnet_fmnist.onnx); libqsim itself is found by the binding's own discovery."""
import os
import pathlib

import numpy as np
import pytest

import qsim

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]


def _required_path(variable, default=None):
    value = os.environ.get(variable, default)
    if not value or not pathlib.Path(value).is_file():
        raise pytest.UsageError(f"{variable} must name an existing file (got {value!r})")
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def model_path():
    return _required_path("QSIM_TEST_MODEL", str(REPOSITORY / "models" / "resnet_fmnist.onnx"))


@pytest.fixture(scope="session")
def calib_path():
    return _required_path("QSIM_TEST_CALIB")


@pytest.fixture(scope="session")
def samples(calib_path):
    return np.load(calib_path)


@pytest.fixture
def session(model_path):
    with qsim.Session(model_path) as opened:
        yield opened
