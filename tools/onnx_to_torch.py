"""Rebuild a small ONNX CNN as a torch module, BatchNormalization folded as qsim folds it.

Used by tools/adaround_torch.py, the PyTorch reference implementation of AdaRound that
bench/adaround_vs_torch.sh runs against qsim. Supports the ops of qsim's reference models
(models/*.onnx): Conv (incl. grouped and depthwise), BatchNormalization, Relu, Clip,
HardSigmoid, HardSwish, Mul, Add, MaxPool, GlobalAveragePool, Flatten, Gemm, Constant.
Any other op, or an attribute outside what the models use, is rejected naming the node.

Folding follows src/techniques/bn_fold.cpp bit for bit (float64 arithmetic, one rounding to
float32), so folded weights, their encodings and their nearest rounding equal qsim's:
    W' = W * g / sigma,  b' = beta + (b - mu) * g / sigma,  sigma = sqrt(var + eps)
for a BatchNormalization whose input is the output of a Conv or Gemm that nothing else reads.
"""
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

LAYER_OPS = ("Conv", "Gemm")


class ConversionError(ValueError):
    pass


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _label(node):
    return "%s '%s'" % (node.op_type, node.name or node.output[0])


def _require(condition, node, message):
    if not condition:
        raise ConversionError("%s: %s" % (_label(node), message))


class _Graph:
    """The ONNX graph as plain data: nodes (topologically sorted, as ONNX requires),
    constant arrays (initializers and Constant node outputs) and who reads each tensor."""

    def __init__(self, path):
        model = onnx.load(path)
        graph = model.graph
        self.path = path
        self.constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.nodes = []
        for node in graph.node:
            if node.op_type == "Constant":
                self.constants[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
            else:
                self.nodes.append(node)
        self.inputs = [v.name for v in graph.input if v.name not in self.constants]
        self.outputs = [v.name for v in graph.output]
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            raise ConversionError("%s: only models with one input and one output are supported"
                                  % path)

    def readers(self, tensor):
        return [n for n in self.nodes if tensor in n.input]

    def sole_reader(self, tensor):
        """The node reading `tensor` when exactly one node reads it and it is no graph output."""
        readers = self.readers(tensor)
        if len(readers) != 1 or tensor in self.outputs or list(readers[0].input).count(tensor) != 1:
            return None
        return readers[0]


def _fold_one(graph, layer, bn):
    """Folds `bn` into `layer` in float64 like qsim; the layer then writes bn's output."""
    weight = graph.constants[layer.input[1]]
    gamma, beta, mean, var = (graph.constants[name].astype(np.float64) for name in bn.input[1:5])
    # The attribute is a float32; qsim widens that float32 to double.
    eps = float(_attrs(bn).get("epsilon", np.float32(1e-5)))
    factor = gamma / np.sqrt(var + eps)
    channel_axis = 0 if layer.op_type == "Conv" or _attrs(layer).get("transB", 0) else 1
    shape = [1] * weight.ndim
    shape[channel_axis] = -1
    folded_weight = (weight.astype(np.float64) * factor.reshape(shape)).astype(np.float32)
    old_bias = np.zeros(len(factor))
    if len(layer.input) > 2 and layer.input[2]:
        bias_scale = _attrs(layer).get("beta", 1.0) if layer.op_type == "Gemm" else 1.0
        old_bias = graph.constants[layer.input[2]].astype(np.float64) * bias_scale
    folded_bias = (beta + (old_bias - mean) * factor).astype(np.float32)
    weight_name, bias_name = layer.input[1] + ".bn_folded", bn.output[0] + ".bias"
    graph.constants[weight_name] = folded_weight
    graph.constants[bias_name] = folded_bias
    folded = onnx.NodeProto()
    folded.CopyFrom(layer)
    del folded.input[:]
    folded.input.extend([layer.input[0], weight_name, bias_name])
    del folded.output[:]
    folded.output.append(bn.output[0])
    if layer.op_type == "Gemm":  # the bias scale went into the folded bias
        kept = [a for a in folded.attribute if a.name != "beta"]
        del folded.attribute[:]
        folded.attribute.extend(kept)
    return folded


def fold_batch_norms(graph):
    """Folds every BatchNormalization that directly follows a Conv/Gemm read by it alone."""
    producers = {out: node for node in graph.nodes for out in node.output}
    replaced, dropped = {}, set()
    for bn in graph.nodes:
        if bn.op_type != "BatchNormalization":
            continue
        layer = producers.get(bn.input[0])
        if (layer is None or layer.op_type not in LAYER_OPS
                or graph.sole_reader(bn.input[0]) is not bn
                or layer.input[1] not in graph.constants
                or not all(name in graph.constants for name in bn.input[1:5])):
            continue
        replaced[id(layer)] = _fold_one(graph, layer, bn)
        dropped.add(id(bn))
    graph.nodes = [replaced.get(id(n), n) for n in graph.nodes if id(n) not in dropped]


def _symmetric_padding(node, attrs, spatial):
    _require(attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), node,
             "auto_pad is not supported")
    pads = list(attrs.get("pads") or [0] * (2 * spatial))
    _require(pads[:spatial] == pads[spatial:], node, "asymmetric pads %s are not supported" % pads)
    return tuple(pads[:spatial])


def _build_conv(graph, node):
    a = _attrs(node)
    weight = torch.from_numpy(graph.constants[node.input[1]].copy())
    _require(weight.dim() == 4, node, "only 2-D convolutions are supported")
    groups = a.get("group", 1)
    conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]),
                     stride=tuple(a.get("strides", [1, 1])),
                     padding=_symmetric_padding(node, a, 2),
                     dilation=tuple(a.get("dilations", [1, 1])), groups=groups,
                     bias=len(node.input) > 2 and bool(node.input[2]))
    conv.weight.data.copy_(weight)
    if conv.bias is not None:
        conv.bias.data.copy_(torch.from_numpy(graph.constants[node.input[2]].copy()))
    return conv


def _build_gemm(graph, node):
    a = _attrs(node)
    _require(not a.get("transA", 0), node, "transA is not supported")
    _require(a.get("alpha", 1.0) == 1.0, node, "alpha != 1 is not supported")
    weight = graph.constants[node.input[1]]
    weight = weight if a.get("transB", 0) else weight.T
    has_bias = len(node.input) > 2 and bool(node.input[2])
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias)
    linear.weight.data.copy_(torch.from_numpy(np.array(weight, dtype=np.float32)))
    if has_bias:
        bias = graph.constants[node.input[2]].astype(np.float64) * a.get("beta", 1.0)
        _require(bias.size == weight.shape[0], node, "only a per-output bias is supported")
        linear.bias.data.copy_(torch.from_numpy(bias.astype(np.float32).reshape(-1)))
    return linear


def _clip_bounds(graph, node):
    a = _attrs(node)
    bounds = [a.get("min"), a.get("max")]  # opset < 11 keeps them as attributes
    for i in (1, 2):
        if len(node.input) > i and node.input[i]:
            _require(node.input[i] in graph.constants, node, "bounds must be constants")
            bounds[i - 1] = float(graph.constants[node.input[i]])
    return bounds


def _clip(graph, node):
    low, high = _clip_bounds(graph, node)
    return lambda x: torch.clamp(x, min=low, max=high)


def _hard_sigmoid(graph, node):
    a = _attrs(node)
    alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
    return lambda x: torch.clamp(x * alpha + beta, 0.0, 1.0)


def _max_pool(graph, node):
    a = _attrs(node)
    kernel = tuple(a["kernel_shape"])
    _require(len(node.output) == 1, node, "the Indices output is not supported")
    return lambda x: F.max_pool2d(x, kernel, stride=tuple(a.get("strides", [1] * len(kernel))),
                                  padding=_symmetric_padding(node, a, len(kernel)),
                                  dilation=tuple(a.get("dilations", [1] * len(kernel))),
                                  ceil_mode=bool(a.get("ceil_mode", 0)))


def _flatten(graph, node):
    axis = _attrs(node).get("axis", 1)
    _require(axis >= 0, node, "a negative axis is not supported")
    return lambda x: x.reshape(int(np.prod(x.shape[:axis])), -1)


_FUNCTIONS = {
    "Relu": lambda graph, node: F.relu,
    "Clip": _clip,
    "HardSigmoid": _hard_sigmoid,
    "HardSwish": lambda graph, node: F.hardswish,
    "Mul": lambda graph, node: torch.mul,
    "Add": lambda graph, node: torch.add,
    "MaxPool": _max_pool,
    "GlobalAveragePool": lambda graph, node: lambda x: x.mean(
        dim=tuple(range(2, x.dim())), keepdim=True),
    "Flatten": _flatten,
}

_LAYERS = {"Conv": _build_conv, "Gemm": _build_gemm}


def _following_activation(graph, layer):
    """The activation AdaRound's reconstruction loss passes both outputs through: the
    Relu or Clip that is the sole reader of the layer's output, else identity (None)."""
    reader = graph.sole_reader(layer.output[0])
    if reader is None or reader.input[0] != layer.output[0]:
        return None
    if reader.op_type == "Relu":
        return F.relu
    if reader.op_type == "Clip":
        return _clip(graph, reader)
    return None


class OnnxModule(nn.Module):
    """Runs the ONNX graph node by node. Conv and Gemm nodes are nn.Conv2d / nn.Linear
    submodules, also in `layers` (ONNX node name -> module, in node order), so that peers'
    techniques (forward hooks, weight replacement) apply to them as to any torch model.

    `tensor_hook`, when set, is called as hook(tensor_name, value) on the model input and on
    every node output and returns the value to use in its place (activation quantization)."""

    def __init__(self, graph):
        super().__init__()
        self.input_name, self.output_name = graph.inputs[0], graph.outputs[0]
        self.layer_modules = nn.ModuleList()  # registers them; torch names cannot hold "."
        self.layers = {}
        self.activations = {}
        self.steps = []
        for index, node in enumerate(graph.nodes):
            name = node.name or "node_%d" % index
            if node.op_type in _LAYERS:
                _require(node.input[1] in graph.constants, node, "the weight must be a constant")
                self.layers[name] = _LAYERS[node.op_type](graph, node)
                self.layer_modules.append(self.layers[name])
                self.activations[name] = _following_activation(graph, node)
                fn, inputs = self.layers[name], [node.input[0]]
            elif node.op_type in _FUNCTIONS:
                fn = _FUNCTIONS[node.op_type](graph, node)
                # Clip's bounds are constants its function already holds.
                inputs = [node.input[0]] if node.op_type == "Clip" else list(node.input)
            else:
                raise ConversionError("%s: %s is not supported by this converter"
                                      % (graph.path, _label(node)))
            self.steps.append((fn, inputs, node.output[0], node.op_type))
        self.constants = {name: torch.from_numpy(np.array(value, dtype=np.float32))
                          for name, value in graph.constants.items()}
        self.tensor_hook = None

    def _hooked(self, name, value):
        return value if self.tensor_hook is None else self.tensor_hook(name, value)

    def forward(self, x):
        values = {self.input_name: self._hooked(self.input_name, x)}
        for fn, inputs, output, _ in self.steps:
            args = [values[i] if i in values else self.constants[i] for i in inputs]
            values[output] = self._hooked(output, fn(*args))
        return values[self.output_name]


def load_onnx_as_torch(path):
    """The model at `path` as an OnnxModule in eval mode, BatchNormalization folded."""
    graph = _Graph(path)
    fold_batch_norms(graph)
    return OnnxModule(graph).eval()
