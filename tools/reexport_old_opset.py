#!/usr/bin/env python3
"""Re-exports a reference CNN (models/*_fmnist.onnx) through PyTorch at an old opset.

    /usr/bin/python3 tools/reexport_old_opset.py models/mobilenet_fmnist.onnx 9 \
        models/mobilenet_fmnist_opset9.onnx

tools/onnx_to_torch.py rebuilds the ONNX graph as a torch module; here BatchNormalization stays
a module of its own (unfused, running statistics), Flatten and GlobalAveragePool stay those ops,
and torch.onnx.export writes the module at `opset` (do_constant_folding, TrainingMode.PRESERVE
on an eval-mode module, which keeps BatchNormalization in inference form). At opset 9 Clip's
bounds are attributes, at 11 constant inputs: the forms qsim's opset upgrade rewrites
(docs/OPSETS.md). Deterministic: no randomness is involved, one thread.
"""
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __import__("os").path.dirname(__file__))
import onnx_to_torch as o2t  # noqa: E402


def _build_batch_norm(graph, node):
    a = o2t._attrs(node)
    scale, bias, mean, var = (graph.constants[name] for name in node.input[1:5])
    bn = nn.BatchNorm2d(scale.shape[0], eps=a.get("epsilon", 1e-5), momentum=1 - a.get("momentum", 0.9))
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(np.array(scale, dtype=np.float32)))
        bn.bias.copy_(torch.from_numpy(np.array(bias, dtype=np.float32)))
        bn.running_mean.copy_(torch.from_numpy(np.array(mean, dtype=np.float32)))
        bn.running_var.copy_(torch.from_numpy(np.array(var, dtype=np.float32)))
    return bn


def _hard_sigmoid(graph, node):
    a = o2t._attrs(node)
    if abs(a.get("alpha", 0.2) - 1 / 6) < 1e-7 and abs(a.get("beta", 0.5) - 0.5) < 1e-7:
        return F.hardsigmoid  # exported as HardSigmoid(alpha=1/6)
    return o2t._hard_sigmoid(graph, node)


def main():
    source, opset, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    o2t._LAYERS["BatchNormalization"] = _build_batch_norm
    o2t._FUNCTIONS["HardSigmoid"] = _hard_sigmoid
    o2t._FUNCTIONS["Flatten"] = lambda graph, node: lambda x: torch.flatten(
        x, o2t._attrs(node).get("axis", 1))
    o2t._FUNCTIONS["GlobalAveragePool"] = lambda graph, node: lambda x: F.adaptive_avg_pool2d(x, 1)
    module = o2t.OnnxModule(o2t._Graph(source)).eval()  # BatchNormalization not folded
    example = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(module, example, target, opset_version=opset, input_names=["input"],
                      output_names=["logits"], do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    model = onnx.load(target)
    model.doc_string = ""
    for node in model.graph.node:
        node.doc_string = ""
    model.producer_name = "pytorch (tools/reexport_old_opset.py from %s)" % source.split("/")[-1]
    onnx.checker.check_model(model)
    onnx.save(model, target)
    ops = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    print(target, "opset", opset, "ops", dict(sorted(ops.items())))


if __name__ == "__main__":
    main()
