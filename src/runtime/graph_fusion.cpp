#include "runtime/graph_fusion.h"

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "graph/bn_fold.h"
#include "runtime/ops/epilogue.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

bool is_op(const Node& node, const char* op_type) {
  return node.domain.empty() && node.op_type == op_type;
}

// What reads each tensor: a node index per input naming it, or kGraphOutput.
constexpr size_t kGraphOutput = std::numeric_limits<size_t>::max();

std::unordered_map<std::string, std::vector<size_t>> readers_of(const Graph& graph) {
  std::unordered_map<std::string, std::vector<size_t>> readers;
  for (size_t n = 0; n < graph.nodes.size(); ++n)
    for (const auto& input : graph.nodes[n].inputs)
      if (!input.empty()) readers[input].push_back(n);
  for (const auto& output : graph.outputs) readers[output.name].push_back(kGraphOutput);
  return readers;
}

// What a Conv absorbs: the nodes (by index), and what they computed.
struct Fusion {
  Activation activation;
  std::vector<size_t> absorbed;
  std::string output;
  std::string sum;  // the other operand of an absorbed Add
};

// Clip's bounds: attributes before opset 11, optional constant float scalar inputs after.
std::optional<Activation> clip_activation(const Graph& graph, const Node& clip, int64_t opset) {
  Activation clip_range{Activation::Kind::kClip, std::numeric_limits<float>::lowest(),
                        std::numeric_limits<float>::max()};
  if (opset < 11) {
    clip_range.a = clip.get_float("min", clip_range.a);
    clip_range.b = clip.get_float("max", clip_range.b);
    return clip_range;
  }
  for (size_t i = 1; i < 3; ++i) {
    if (!clip.has_input(i)) continue;
    const Tensor* bound = graph.find_initializer(clip.inputs[i]);
    if (bound == nullptr || bound->dtype() != DType::kFloat32 || bound->size() != 1)
      return std::nullopt;
    (i == 1 ? clip_range.a : clip_range.b) = bound->data<float>()[0];
  }
  return clip_range;
}

std::optional<Fusion> single_activation(const Graph& graph, size_t reader, int64_t opset) {
  const Node& node = graph.nodes[reader];
  Fusion fusion{{}, {reader}, node.outputs.at(0), {}};
  if (is_op(node, "Relu")) {
    fusion.activation.kind = Activation::Kind::kRelu;
  } else if (is_op(node, "HardSwish")) {  // ONNX defines it as x * HardSigmoid(x, 1/6, 0.5)
    fusion.activation = {Activation::Kind::kHardSwish, 1.0f / 6.0f, 0.5f};
  } else if (is_op(node, "Clip")) {
    const std::optional<Activation> clip = clip_activation(graph, node, opset);
    if (!clip) return std::nullopt;
    fusion.activation = *clip;
  } else {
    return std::nullopt;
  }
  return fusion;
}

// HardSigmoid(y) and Mul(y, HardSigmoid(y)) (either operand order), nothing else reading the
// HardSigmoid: HardSwish with that HardSigmoid's alpha and beta.
std::optional<Fusion> hard_swish_pair(
    const Graph& graph, const std::unordered_map<std::string, std::vector<size_t>>& readers,
    const std::string& y, std::vector<size_t> pair) {
  if (pair[0] == kGraphOutput || pair[1] == kGraphOutput) return std::nullopt;
  if (is_op(graph.nodes[pair[1]], "HardSigmoid")) std::swap(pair[0], pair[1]);
  const Node& sigmoid = graph.nodes[pair[0]];
  const Node& mul = graph.nodes[pair[1]];
  if (!is_op(sigmoid, "HardSigmoid") || !is_op(mul, "Mul") || mul.inputs.size() != 2)
    return std::nullopt;
  const std::string& h = sigmoid.outputs.at(0);
  const bool operands =
      (mul.inputs[0] == y && mul.inputs[1] == h) || (mul.inputs[0] == h && mul.inputs[1] == y);
  if (!operands || readers.at(h).size() != 1) return std::nullopt;
  return Fusion{{Activation::Kind::kHardSwish, sigmoid.get_float("alpha", 0.2f),
                 sigmoid.get_float("beta", 0.5f)},
                {pair[0], pair[1]},
                mul.outputs.at(0),
                {}};
}

// The activation that alone reads tensor y.
std::optional<Fusion> activation_after(
    const Graph& graph, const std::unordered_map<std::string, std::vector<size_t>>& readers,
    const std::string& y, int64_t opset) {
  auto it = readers.find(y);
  if (it == readers.end()) return std::nullopt;
  const std::vector<size_t>& r = it->second;
  if (r.size() == 1 && r[0] != kGraphOutput) return single_activation(graph, r[0], opset);
  if (r.size() == 2) return hard_swish_pair(graph, readers, y, r);
  return std::nullopt;
}

// An Add that alone reads the Conv's output y, with the activation that alone reads the
// Add's output, if any. The fused node takes the Add's place: its other operand may be
// computed after the Conv.
std::optional<Fusion> sum_after(const Graph& graph,
                                const std::unordered_map<std::string, std::vector<size_t>>& readers,
                                const std::string& y, int64_t opset) {
  auto it = readers.find(y);
  if (it == readers.end() || it->second.size() != 1 || it->second[0] == kGraphOutput)
    return std::nullopt;
  const std::vector<size_t>& r = it->second;
  const Node& add = graph.nodes[r[0]];
  if (!is_op(add, "Add") || add.inputs.size() != 2 || add.inputs[0] == add.inputs[1])
    return std::nullopt;
  Fusion fusion{{}, {r[0]}, add.outputs.at(0), add.inputs[add.inputs[0] == y ? 1 : 0]};
  if (std::optional<Fusion> after = activation_after(graph, readers, fusion.output, opset)) {
    fusion.activation = after->activation;
    fusion.absorbed.insert(fusion.absorbed.end(), after->absorbed.begin(), after->absorbed.end());
    fusion.output = after->output;
  }
  return fusion;
}

}  // namespace

Model fuse_for_inference(const Model& model) {
  Model fused = fold_batch_norms(model).model;
  Graph& graph = fused.graph;
  const auto readers = readers_of(graph);
  // The fused node of each Conv, by the index of the node it replaces.
  std::map<size_t, Node> replacing;
  std::set<size_t> dropped;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& conv = graph.nodes[n];
    if (!is_op(conv, "Conv")) continue;
    const std::string& y = conv.outputs.at(0);
    std::optional<Fusion> fusion = activation_after(graph, readers, y, fused.opset);
    if (!fusion) fusion = sum_after(graph, readers, y, fused.opset);
    // An Add of two Conv outputs goes to the first Conv; the other stays as it is.
    if (!fusion || dropped.count(fusion->absorbed.front()) != 0) continue;
    Node node = conv;
    node.op_type = "FusedConv";
    node.domain = kQsimDomain;
    set_activation_attributes(fusion->activation, node);
    node.outputs[0] = fusion->output;
    size_t place = n;
    if (!fusion->sum.empty()) {
      node.inputs.resize(4);
      node.inputs[3] = fusion->sum;
      place = fusion->absorbed.front();
      dropped.insert(n);
    }
    dropped.insert(fusion->absorbed.begin(), fusion->absorbed.end());
    replacing[place] = std::move(node);
  }
  std::vector<Node> nodes;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    auto it = replacing.find(n);
    if (it != replacing.end()) {
      nodes.push_back(std::move(it->second));
    } else if (dropped.count(n) == 0) {
      nodes.push_back(std::move(graph.nodes[n]));
    }
  }
  graph.nodes = std::move(nodes);
  return fused;
}

}  // namespace qsim
