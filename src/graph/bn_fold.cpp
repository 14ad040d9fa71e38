#include "graph/bn_fold.h"

#include <cmath>
#include <functional>
#include <set>
#include <unordered_map>

#include "graph/op_info.h"
#include "graph/tensor_uses.h"
#include "util/error.h"

namespace qsim {
namespace {

std::string node_id(const Node& node) {
  return node.name.empty() ? node.outputs.at(0) : node.name;
}

// A layer weight seen as [outer, middle, inner] blocks, with the output channel of block (a, b).
struct WeightLayout {
  int64_t outer = 1, middle = 1, inner = 1;
  int64_t channels = 0;
  std::function<int64_t(int64_t, int64_t)> channel_of;
};

WeightLayout layout_of(const Node& layer, const Tensor& weight) {
  WeightLayout l;
  if (layer.op_type == "Conv") {
    l.outer = weight.dim(0);
    l.inner = weight.size() / l.outer;
    l.channels = l.outer;
    l.channel_of = [](int64_t a, int64_t) { return a; };
  } else if (layer.op_type == "ConvTranspose") {
    // [Cin, Cout / group, k...]: input channel a of group a / (Cin / group) feeds output
    // channel group * (Cout / group) + b.
    const int64_t group = layer.get_int("group", 1);
    const int64_t in_per_group = weight.dim(0) / group;
    const int64_t out_per_group = weight.dim(1);
    l.outer = weight.dim(0);
    l.middle = out_per_group;
    l.inner = weight.size() / (l.outer * l.middle);
    l.channels = out_per_group * group;
    l.channel_of = [in_per_group, out_per_group](int64_t a, int64_t b) {
      return a / in_per_group * out_per_group + b;
    };
  } else if (layer.get_int("transB", 0) != 0) {  // Gemm, B is [N, K]
    l.outer = weight.dim(0);
    l.inner = weight.dim(1);
    l.channels = l.outer;
    l.channel_of = [](int64_t a, int64_t) { return a; };
  } else {  // Gemm, B is [K, N]
    l.outer = weight.dim(0);
    l.middle = weight.dim(1);
    l.channels = l.middle;
    l.channel_of = [](int64_t, int64_t b) { return b; };
  }
  return l;
}

bool is_float_vector(const Tensor* t, int64_t size) {
  return t != nullptr && t->dtype() == DType::kFloat32 && t->rank() == 1 && t->dim(0) == size;
}

// The foldable layer before `bn`, or a reason why there is none.
struct Candidate {
  size_t layer = 0;
  std::string reason;  // empty when foldable
};

Candidate find_layer(const Graph& graph, const TensorUses& uses, const Node& bn) {
  Candidate c;
  auto reject = [&](const std::string& why) {
    c.reason = bn.label() + ": " + why;
    return c;
  };
  if (bn.get_int("training_mode", 0) != 0) return reject("is in training mode");
  for (size_t o = 1; o < bn.outputs.size(); ++o)
    if (!bn.outputs[o].empty()) return reject("its running statistics outputs are used");
  const std::string& x = bn.inputs.at(0);
  auto producer = uses.producer.find(x);
  if (producer == uses.producer.end()) return reject("its input is not computed by a layer");
  const Node& layer = graph.nodes[producer->second];
  if (!has_int32_bias(layer))  // graph/op_info.h: Conv, ConvTranspose, Gemm
    return reject("follows " + layer.label() + ", not a Conv, ConvTranspose or Gemm");
  if (!uses.private_to_one_reader(x))
    return reject("the output of " + layer.label() + " has other readers");
  const Tensor* weight = layer.has_input(1) ? graph.find_initializer(layer.inputs[1]) : nullptr;
  if (weight == nullptr || weight->dtype() != DType::kFloat32 || weight->rank() < 2)
    return reject(layer.label() + " has no constant float weight");
  if (!uses.private_to_one_reader(layer.inputs[1]))
    return reject("the weight of " + layer.label() + " is shared");
  const int64_t channels = layout_of(layer, *weight).channels;
  for (size_t i = 1; i <= 4; ++i)
    if (!bn.has_input(i) || !is_float_vector(graph.find_initializer(bn.inputs[i]), channels))
      return reject("its input " + std::to_string(i) + " is not a constant float vector of " +
                    std::to_string(channels) + " channels");
  if (layer.has_input(2)) {
    if (!is_float_vector(graph.find_initializer(layer.inputs[2]), channels))
      return reject("the bias of " + layer.label() + " is not a constant float vector per channel");
    if (!uses.private_to_one_reader(layer.inputs[2]))
      return reject("the bias of " + layer.label() + " is shared");
  }
  c.layer = producer->second;
  return c;
}

std::string unused_name(const Graph& graph, const TensorUses& uses, const std::string& base) {
  std::string name = base;
  for (int k = 1;
       graph.is_initializer(name) || uses.readers.count(name) || uses.producer.count(name); ++k)
    name = base + "_" + std::to_string(k);
  return name;
}

// The name a new bias of `layer` gets: "conv1.bias" for weight "conv1.weight".
std::string new_bias_name(const Graph& graph, const TensorUses& uses, const Node& layer) {
  const std::string& weight = layer.inputs[1];
  const std::string suffix = ".weight";
  bool torch_style = weight.size() > suffix.size() &&
                     weight.compare(weight.size() - suffix.size(), suffix.size(), suffix) == 0;
  return unused_name(
      graph, uses,
      torch_style ? weight.substr(0, weight.size() - suffix.size()) + ".bias" : weight + "_bias");
}

void fold_one(Graph& graph, const TensorUses& uses, Node& layer, const Node& bn) {
  const Tensor& gamma = *graph.find_initializer(bn.inputs[1]);
  const Tensor& beta = *graph.find_initializer(bn.inputs[2]);
  const Tensor& mean = *graph.find_initializer(bn.inputs[3]);
  const Tensor& var = *graph.find_initializer(bn.inputs[4]);
  const double eps = bn.get_float("epsilon", 1e-5f);

  Tensor weight = graph.initializers.at(layer.inputs[1]).clone();
  const WeightLayout l = layout_of(layer, weight);
  std::vector<double> factor(static_cast<size_t>(l.channels));
  for (int64_t c = 0; c < l.channels; ++c)
    factor[c] = static_cast<double>(gamma.data<float>()[c]) /
                std::sqrt(static_cast<double>(var.data<float>()[c]) + eps);

  float* w = weight.data<float>();
  for (int64_t a = 0; a < l.outer; ++a)
    for (int64_t b = 0; b < l.middle; ++b) {
      const double f = factor[l.channel_of(a, b)];
      float* block = w + (a * l.middle + b) * l.inner;
      for (int64_t i = 0; i < l.inner; ++i) block[i] = static_cast<float>(block[i] * f);
    }

  // Gemm computes beta * C; the folded bias absorbs beta, so beta becomes 1.
  const double bias_scale = layer.op_type == "Gemm" ? layer.get_float("beta", 1.0f) : 1.0;
  Tensor bias(DType::kFloat32, {l.channels});
  const float* old_bias =
      layer.has_input(2) ? graph.find_initializer(layer.inputs[2])->data<float>() : nullptr;
  for (int64_t c = 0; c < l.channels; ++c) {
    const double b = old_bias ? old_bias[c] * bias_scale : 0.0;
    bias.data<float>()[c] =
        static_cast<float>(beta.data<float>()[c] + (b - mean.data<float>()[c]) * factor[c]);
  }
  if (layer.op_type == "Gemm" && layer.has("beta")) layer.attributes["beta"].f = 1.0f;

  graph.initializers[layer.inputs[1]] = weight;
  if (!layer.has_input(2)) {
    layer.inputs.resize(3);
    layer.inputs[2] = new_bias_name(graph, uses, layer);
  }
  graph.initializers[layer.inputs[2]] = bias;
  layer.outputs[0] = bn.outputs[0];
}

void drop_unread_initializers(Graph& graph, const std::set<std::string>& candidates) {
  std::set<std::string> read;
  for (const Node& n : graph.nodes) read.insert(n.inputs.begin(), n.inputs.end());
  for (const auto& v : graph.outputs) read.insert(v.name);
  for (const auto& name : candidates)
    if (read.count(name) == 0) graph.initializers.erase(name);
}

}  // namespace

BatchNormFoldResult fold_batch_norms(const Model& model) {
  BatchNormFoldResult result{model, {}, {}};
  Graph& graph = result.model.graph;
  const TensorUses uses(model.graph);
  std::vector<bool> drop(graph.nodes.size(), false);
  std::set<std::string> bn_params;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& bn = graph.nodes[i];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty()) continue;
    Candidate c = find_layer(graph, uses, bn);
    if (!c.reason.empty()) {
      result.skipped.push_back(c.reason);
      continue;
    }
    Node& layer = graph.nodes[c.layer];
    result.folded.push_back({node_id(bn), node_id(layer)});
    fold_one(graph, uses, layer, bn);
    bn_params.insert(bn.inputs.begin() + 1, bn.inputs.end());
    drop[i] = true;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
  drop_unread_initializers(graph, bn_params);
  return result;
}

}  // namespace qsim
