#!/usr/bin/env python3
"""Writes small old-opset node models into tests/data/opset/ (deterministic, committed).

One model per op form that qsim's opset upgrade (src/graph/opset_upgrade.cpp) rewrites, at the
opsets (7, 9, 10, 11, 12) where the old form is valid, plus a few ops that are only relabelled.
Each CASE.onnx has one float input "x", fed from CASE.npy. tools/compare/opset_vs_ort.cpp runs
each model through ONNX Runtime as it is and after qsim's upgrade and compares the outputs.

    /usr/bin/python3 tools/make_opset_models.py [--out tests/data/opset]
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The lowest IR version ONNX released with each opset (docs/Versioning.md).
IR_FOR_OPSET = {7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7}


def model(name, opset, op, x_shape, attrs=None, consts=None, outputs=1, out_types=None,
          input_names=None, out_shapes=None):
    """A one-node graph: input x (float, x_shape), then the constants as initializers."""
    consts = consts or {}
    inputs = ["x"] + list(consts) if input_names is None else input_names
    outs = ["y"] if outputs == 1 else [f"y{i}" for i in range(outputs)]
    out_types = out_types or [TensorProto.FLOAT] * len(outs)
    node = helper.make_node(op, inputs, outs, name=f"{op.lower()}_node", **(attrs or {}))
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items() if k])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="qsim tools/make_opset_models.py")
    m.ir_version = IR_FOR_OPSET[opset]
    if m.ir_version < 4:  # IR 3 lists every initializer among the graph inputs
        for init in m.graph.initializer:
            m.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, init.dims))
    # Old IR versions want every output typed with a shape: take them from shape inference.
    inferred = onnx.shape_inference.infer_shapes(m)
    for out, info in zip(m.graph.output, inferred.graph.output):
        out.CopyFrom(info)
    for out, shape in zip(m.graph.output, out_shapes or []):
        out.CopyFrom(helper.make_tensor_value_info(out.name, out.type.tensor_type.elem_type, shape))
    onnx.checker.check_model(m)
    return m


def f32(*values):
    return np.array(values, dtype=np.float32)


def cases():
    bn = {"s": f32(1.5, 0.5, 1.0), "b": f32(0.1, -0.2, 0.0), "m": f32(0.3, -0.4, 0.2),
          "v": f32(2.0, 0.7, 1.1)}
    yield model("clip_9", 9, "Clip", [2, 3, 4], {"min": -0.5, "max": 0.75})
    yield model("clip_10_max_only", 10, "Clip", [2, 5], {"max": 0.25})
    yield model("clip_7_none", 7, "Clip", [4])
    yield model("slice_9", 9, "Slice", [4, 3, 5], {"starts": [1, 0], "ends": [3, -1], "axes": [0, 2]})
    yield model("slice_9_no_axes", 9, "Slice", [4, 3], {"starts": [-3, 1], "ends": [100, 3]})
    yield model("squeeze_11", 11, "Squeeze", [1, 3, 1, 2], {"axes": [0, 2]})
    yield model("squeeze_9_all", 9, "Squeeze", [1, 3, 1], out_shapes=[[3]])
    yield model("unsqueeze_11", 11, "Unsqueeze", [3, 2], {"axes": [0, -1]})
    yield model("unsqueeze_9", 9, "Unsqueeze", [3], {"axes": [1]})
    yield model("reducemean_11", 11, "ReduceMean", [2, 3, 4, 5], {"axes": [2, 3], "keepdims": 0})
    yield model("reducemean_9_all", 9, "ReduceMean", [2, 3, 4])
    yield model("reducesum_12", 12, "ReduceSum", [2, 3, 4], {"axes": [1]})
    yield model("reducemax_12", 12, "ReduceMax", [2, 3, 4], {"axes": [-1], "keepdims": 1})
    yield model("split_11", 11, "Split", [2, 4], {"axis": 1, "split": [1, 3]}, outputs=2)
    yield model("split_12_even", 12, "Split", [6, 2], {"axis": 0}, outputs=3)
    yield model("pad_9_constant", 9, "Pad", [1, 2, 3], {"pads": [0, 1, 2, 0, 2, 1], "value": 1.5})
    yield model("pad_10_reflect", 10, "Pad", [2, 4], {"pads": [0, 2, 0, 1], "mode": "reflect"})
    yield model("pad_7_edge", 7, "Pad", [2, 3], {"pads": [1, 1, 1, 1], "mode": "edge"})
    # Softmax before 13 coerces to 2-D at axis: on a 4-D input axis 1 means "normalize all of
    # C*H*W", which opset 13's Softmax(axis=1) does not.
    yield model("softmax_11_axis1_4d", 11, "Softmax", [2, 3, 2, 2], {"axis": 1})
    yield model("softmax_9_default_2d", 9, "Softmax", [3, 5])
    yield model("softmax_12_axis_last", 12, "Softmax", [2, 3, 4], {"axis": -1})
    yield model("softmax_7_axis0_3d", 7, "Softmax", [2, 3, 4], {"axis": 0})
    yield model("logsoftmax_11_axis1_3d", 11, "LogSoftmax", [2, 3, 4], {"axis": 1})
    yield model("hardmax_11_axis1_3d", 11, "Hardmax", [2, 3, 4], {"axis": 1})
    yield model("upsample_7_nearest", 7, "Upsample", [1, 2, 2, 3], {"scales": [1.0, 1.0, 2.0, 2.0]})
    yield model("upsample_9_nearest", 9, "Upsample", [1, 1, 2, 3], {"mode": "nearest"},
                {"scales": f32(1.0, 1.0, 3.0, 2.0)})
    yield model("upsample_9_linear", 9, "Upsample", [1, 1, 3, 3], {"mode": "linear"},
                {"scales": f32(1.0, 1.0, 2.0, 2.0)})
    yield model("resize_10_nearest", 10, "Resize", [1, 2, 3, 4], {"mode": "nearest"},
                {"scales": f32(1.0, 1.0, 2.0, 1.5)})
    yield model("resize_10_linear", 10, "Resize", [1, 1, 3, 4], {"mode": "linear"},
                {"scales": f32(1.0, 1.0, 2.0, 2.0)})
    yield model("batchnorm_7_spatial", 7, "BatchNormalization", [2, 3, 4],
                {"spatial": 1, "epsilon": 1e-3}, bn)
    yield model("batchnorm_9", 9, "BatchNormalization", [2, 3, 2, 2], {"epsilon": 1e-5}, bn)
    yield model("dropout_7", 7, "Dropout", [2, 3], {"ratio": 0.3})
    yield model("dropout_10", 10, "Dropout", [2, 3], {"ratio": 0.25})
    yield model("topk_9", 9, "TopK", [3, 5], {"k": 2, "axis": 1}, outputs=2,
                out_types=[TensorProto.FLOAT, TensorProto.INT64])
    yield model("scatter_9", 9, "Scatter", [3, 3], {"axis": 1},
                {"i": np.array([[1, 0], [2, 1], [0, 2]], dtype=np.int64),
                 "u": f32(1, 2, 3, 4, 5, 6).reshape(3, 2)})
    # Relabelled only: no interface change on the way to 13 or 21.
    yield model("maxpool_8", 8, "MaxPool", [1, 2, 5, 5], {"kernel_shape": [2, 2], "strides": [2, 2]})
    yield model("averagepool_7", 7, "AveragePool", [1, 2, 5, 5],
                {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1})
    yield model("gemm_9", 9, "Gemm", [2, 3], {"transB": 1, "alpha": 0.5},
                {"w": np.arange(12, dtype=np.float32).reshape(4, 3) / 7, "c": f32(1, 2, 3, 4)})
    yield model("leakyrelu_7", 7, "LeakyRelu", [2, 3], {"alpha": 0.2})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                      "data", "opset"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i, m in enumerate(cases()):
        name = m.graph.name
        shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        rng = np.random.RandomState(1000 + i)
        x = (rng.standard_normal(shape) * 1.5).astype(np.float32)
        onnx.save(m, os.path.join(args.out, name + ".onnx"))
        np.save(os.path.join(args.out, name + ".npy"), x)
        print(name, "opset", m.opset_import[0].version)


if __name__ == "__main__":
    main()
