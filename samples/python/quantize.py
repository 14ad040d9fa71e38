#!/usr/bin/env python3
"""Quantizes an ONNX model end to end through qsim's Python binding:

    quantize.py MODEL.onnx CALIB.npy OUT_DIR

Calibrates on CALIB.npy (read by qsim in batches of 32), applies AdaRound (100 iterations per
layer on 128 samples), exports every format into OUT_DIR and prints the first line of qsim's
notes. The encodings files are byte-identical to those of the other languages' samples.
Run with PYTHONPATH=<repository>/bindings/python and libqsim discoverable (pkg-config or
QSIM_LIBRARY)."""
import sys

import qsim

BATCH = 32


def show_progress(done, total, message):
    print(f"  {message}")
    return False  # never cancels


def quantize(model, calib, out_dir):
    with qsim.Session(model) as session, qsim.DataSource.from_npy([calib], BATCH) as source:
        session.calibrate(source, progress=show_progress)
        # the same source again: every call reads it from its first sample
        session.adaround(source, mode="adaround", num_iterations=100, num_samples=128, seed=0)
        session.export(out_dir)
        print(session.notes().splitlines()[0])


def main(argv):
    if len(argv) != 4:
        print(f"usage: {argv[0]} MODEL.onnx CALIB.npy OUT_DIR", file=sys.stderr)
        return 2
    try:
        quantize(*argv[1:])
    except qsim.QsimError as error:
        print(f"{error.status_name}: {error.message}", file=sys.stderr)
        return 1
    except qsim.LibraryError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
