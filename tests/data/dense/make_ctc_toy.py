#!/usr/bin/python3
"""Writes tests/data/dense/ctc_toy.onnx: a stand-in for an OCR head, so that the [N, T, C] path of
`qsim_sim_vs_ort --metric ctc` runs end to end (there is no OCR model here). Each image column is
one time step: Conv with a 28x1 kernel (6 classes, class 0 the CTC blank) -> Squeeze -> Transpose
to [N, 28, 6]. Random weights from a fixed seed; the file is byte-identical on every run.

    cd tests/data/dense && /usr/bin/python3 make_ctc_toy.py
"""
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
rng = np.random.RandomState(7)
C = 6
# Each column of the image (28 rows) is one time step: Conv with a 28x1 kernel gives [N, C, 1, 28].
w = (rng.randn(C, 1, 28, 1) * 0.3).astype(np.float32)
b = (rng.randn(C) * 0.1).astype(np.float32)
nodes = [
    helper.make_node("Conv", ["input", "w", "b"], ["conv"], name="col_conv", kernel_shape=[28, 1]),
    helper.make_node("Squeeze", ["conv", "axes"], ["sq"], name="squeeze"),
    helper.make_node("Transpose", ["sq"], ["scores"], name="to_ntc", perm=[0, 2, 1]),
]
g = helper.make_graph(nodes, "ctc_toy",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 28, 28])],
    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 28, C])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
     numpy_helper.from_array(np.array([2], np.int64), "axes")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="qsim tests")
m.ir_version = 7
onnx.checker.check_model(m)
onnx.save(m, "ctc_toy.onnx")
