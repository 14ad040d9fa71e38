#!/usr/bin/env python3
"""Writes small_cnn.onnx next to this script: the model of the fault-injection tests
(tests/fault/). Small enough that every allocation of a calibrate, AdaRound or export call can
be failed in turn in seconds, yet it takes every AdaRound lowering: a 3x3 Conv with a
BatchNormalization to fold, a stride-2 depthwise Conv, a 1x1 Conv and a Gemm.
  /usr/bin/python3 tests/data/fault/make_small_cnn.py   (needs python3-onnx; file committed)"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(21)


def weight(name, *shape):
    return numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)


inits = [
    weight("conv1.w", 4, 1, 3, 3), weight("conv1.b", 4),
    numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "bn.scale"),
    weight("bn.bias", 4), weight("bn.mean", 4),
    numpy_helper.from_array(rng.uniform(0.5, 2.0, 4).astype(np.float32), "bn.var"),
    weight("dw.w", 4, 1, 3, 3), weight("dw.b", 4),
    weight("pw.w", 8, 4, 1, 1), weight("pw.b", 8),
    weight("fc.w", 10, 8), weight("fc.b", 10),
]
nodes = [
    helper.make_node("Conv", ["x", "conv1.w", "conv1.b"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
    helper.make_node("BatchNormalization", ["c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
                     ["b1"], name="bn"),
    helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
    helper.make_node("Conv", ["r1", "dw.w", "dw.b"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2],
                     group=4, name="dw"),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("Conv", ["r2", "pw.w", "pw.b"], ["c3"], name="pw"),
    helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
    helper.make_node("GlobalAveragePool", ["r3"], ["gap"], name="gap"),
    helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
    helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"], transB=1, name="fc"),
]
graph = helper.make_graph(
    nodes, "small_cnn",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="qsim tests/data/fault/make_small_cnn.py")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, os.path.join(os.path.dirname(os.path.abspath(__file__)), "small_cnn.onnx"))
