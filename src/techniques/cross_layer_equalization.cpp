#include "techniques/cross_layer_equalization.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "graph/bn_fold.h"
#include "graph/tensor_uses.h"
#include "techniques/layer_channels.h"
#include "util/error.h"

namespace qsim {
namespace {

enum class Between { kHomogeneous, kRelu6, kOther };

Between classify_between(const Graph& graph, const Node& node) {
  if (!node.domain.empty()) return Between::kOther;
  if (node.op_type == "Relu" || node.op_type == "LeakyRelu" || node.op_type == "PRelu")
    return Between::kHomogeneous;
  if (node.op_type != "Clip") return Between::kOther;
  const std::optional<ClipBounds> bounds = clip_bounds(graph, node);
  if (!bounds || bounds->low != 0.0f) return Between::kOther;
  return std::isinf(bounds->high) ? Between::kHomogeneous : Between::kRelu6;
}

struct Pair {
  Layer first, second;
  std::optional<size_t> between;  // the activation node, if any
  bool relu = false;              // it is a Relu (or a ReLU6 that becomes one)
  std::string path;               // "Conv 'a' -> Relu -> Conv 'b'"
};

std::string ranges_text(const std::vector<double>& r) {
  const auto [low, high] = std::minmax_element(r.begin(), r.end());
  std::ostringstream s;
  s.precision(3);
  s << *low << ".." << *high;
  return s.str();
}

std::vector<double> output_ranges(const Layer& layer, const float* w) {
  std::vector<double> r(static_cast<size_t>(layer.map.outputs), 0.0);
  for (int64_t i = 0; i < layer.map.outputs; ++i)
    layer.map.each_output(i, [&](int64_t k) { r[i] = std::max<double>(r[i], std::fabs(w[k])); });
  return r;
}

std::vector<double> input_ranges(const Layer& layer, const float* w) {
  std::vector<double> r(static_cast<size_t>(layer.map.inputs), 0.0);
  for (int64_t i = 0; i < layer.map.inputs; ++i)
    layer.map.each_input(i, [&](int64_t k) { r[i] = std::max<double>(r[i], std::fabs(w[k])); });
  return r;
}

class Equalizer {
 public:
  Equalizer(const Model& model, const CleOptions& options)
      : model_(model), options_(options), uses_(model_.graph) {}

  TransformOutcome run() {
    find_pairs();
    if (pairs_.empty()) {
      notes_.push_back("cle: no pair of layers to equalize; the model is unchanged");
      return {std::move(model_), {}, std::move(notes_), options_.statistics};
    }
    own_weights();
    std::vector<std::pair<std::string, std::string>> before;
    for (const Pair& p : pairs_) before.push_back(pair_ranges(p));
    int steps = 0;
    const int limit = options_.steps < 0 ? kMaxCleSteps : options_.steps;
    while (steps < limit) {
      ++steps;
      double moved = 0.0;
      for (const Pair& p : pairs_) moved = std::max(moved, equalize(p));
      if (options_.steps < 0 && moved <= 1e-6) break;
    }
    for (size_t i = 0; i < pairs_.size(); ++i) {
      const auto after = pair_ranges(pairs_[i]);
      notes_.push_back("cle: " + pairs_[i].path + ": output-channel weight ranges " +
                       before[i].first + " -> " + after.first +
                       ", input-channel ranges of the second " + before[i].second + " -> " +
                       after.second);
    }
    int64_t absorbed = 0;
    if (options_.statistics) statistics_ = std::make_shared<BatchNormStatistics>(rescaled());
    if (absorbs())
      for (const Pair& p : pairs_) absorbed += absorb_high_bias(p);
    TransformOutcome outcome{std::move(model_), {"cle", {}}, std::move(notes_), statistics_};
    if (absorbs()) outcome.record.options["high_bias_absorbed_channels"] = std::to_string(absorbed);
    outcome.record.options["pairs"] = std::to_string(pairs_.size());
    outcome.record.options["steps"] = std::to_string(steps);
    outcome.record.options["relu6_replaced"] = std::to_string(relu6_replaced_);
    if (options_.include_bias) outcome.record.options["include_bias"] = "1";
    return outcome;
  }

 private:
  void find_pairs() {
    const Graph& g = model_.graph;
    std::unordered_map<std::string, size_t> reader;  // of tensors with one reader
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const std::string& in : g.nodes[i].inputs)
        if (!in.empty()) reader[in] = i;
    std::vector<size_t> to_relu;
    for (size_t a = 0; a < g.nodes.size(); ++a) {
      std::string why;
      std::optional<Layer> first = layer_of(g, uses_, a, why);
      if (!first) continue;
      const Node& l1 = g.nodes[a];
      std::string out = l1.outputs.at(0);
      if (!uses_.private_to_one_reader(out)) continue;
      size_t next = reader.at(out);
      Pair pair;
      pair.path = l1.label();
      const Node* mid = &g.nodes[next];
      const Between between = classify_between(g, *mid);
      if (between != Between::kOther && mid->inputs.at(0) == out) {
        if (between == Between::kRelu6 && !options_.replace_relu6) {
          notes_.push_back("cle: " + l1.label() + " -> " + mid->label() +
                           ": not equalized, the Clip bounds the channels (replace_relu6 is off)");
          continue;
        }
        if (!uses_.private_to_one_reader(mid->outputs.at(0))) continue;
        pair.between = next;
        pair.path += " -> " + mid->op_type;
        out = mid->outputs.at(0);
        next = reader.at(out);
      }
      const Node& l2 = g.nodes[next];
      std::optional<Layer> second = layer_of(g, uses_, next, why);
      if (!second) {
        if (!why.empty() &&
            (l2.op_type == "Conv" || l2.op_type == "Gemm" || l2.op_type == "MatMul"))
          notes_.push_back("cle: " + pair.path + " -> " + l2.label() + ": not equalized, " + why);
        continue;
      }
      if (l2.inputs.at(0) != out) continue;
      pair.path += " -> " + l2.label();
      if (first->map.outputs != second->map.inputs) {
        notes_.push_back("cle: " + pair.path + ": not equalized, " +
                         std::to_string(first->map.outputs) + " outputs feed " +
                         std::to_string(second->map.inputs) + " inputs");
        continue;
      }
      if (pair.between && between == Between::kRelu6) to_relu.push_back(*pair.between);
      pair.relu =
          pair.between && (between == Between::kRelu6 || g.nodes[*pair.between].op_type == "Relu" ||
                           g.nodes[*pair.between].op_type == "Clip");
      pair.first = std::move(*first);
      pair.second = std::move(*second);
      pairs_.push_back(std::move(pair));
    }
    for (size_t index : to_relu) replace_by_relu(index);
  }

  // ReLU6 -> Relu; its bounds go when nothing else reads them.
  void replace_by_relu(size_t index) {
    Node& clip = model_.graph.nodes[index];
    notes_.push_back("cle: " + clip.label() + " (Clip 0..6) replaced by Relu");
    for (size_t i = 1; i < clip.inputs.size(); ++i)
      if (!clip.inputs[i].empty() && uses_.readers[clip.inputs[i]] == 1 &&
          uses_.graph_outputs.count(clip.inputs[i]) == 0)
        model_.graph.initializers.erase(clip.inputs[i]);
    clip.op_type = "Relu";
    clip.inputs.resize(1);
    clip.attributes.clear();
    ++relu6_replaced_;
  }

  // The pairs' weights and biases become copies this model owns (Tensor copies share data).
  void own_weights() {
    for (const Pair& p : pairs_)
      for (const Layer* l : {&p.first, &p.second})
        for (const std::string& name : {l->weight, l->bias})
          if (!name.empty() && owned_.insert(name).second)
            model_.graph.initializers[name] = model_.graph.initializers.at(name).clone();
  }

  float* data(const std::string& name) { return model_.graph.initializers.at(name).data<float>(); }

  std::pair<std::string, std::string> pair_ranges(const Pair& p) {
    return {ranges_text(output_ranges(p.first, data(p.first.weight))),
            ranges_text(input_ranges(p.second, data(p.second.weight)))};
  }

  // One equalization of a pair; returns the largest |s_i - 1|.
  double equalize(const Pair& p) {
    std::vector<double> r1 = output_ranges(p.first, data(p.first.weight));
    // Quark's CLEScaleAppendBias: the bias is one more value of its output channel.
    if (options_.include_bias && !p.first.bias.empty()) {
      const float* b1 = data(p.first.bias);
      for (size_t i = 0; i < r1.size(); ++i) r1[i] = std::max(r1[i], std::fabs(double{b1[i]}));
    }
    const std::vector<double> r2 = input_ranges(p.second, data(p.second.weight));
    std::vector<double> factors(r1.size(), 1.0);
    double moved = 0.0;
    for (size_t i = 0; i < r1.size(); ++i) {
      if (!(r1[i] > 0.0) || !(r2[i] > 0.0)) continue;
      const double s = std::sqrt(r1[i] / r2[i]);
      if (!std::isfinite(s)) continue;
      moved = std::max(moved, std::fabs(s - 1.0));
      factors[i] = 1.0 / s;
    }
    scale_layers(model_.graph, p.first, p.second, factors);
    std::vector<double>& total = output_scales_[p.first.node];
    if (total.empty()) total.assign(factors.size(), 1.0);
    for (size_t i = 0; i < factors.size(); ++i) total[i] *= factors[i];
    return moved;
  }

  bool absorbs() const { return options_.high_bias_absorption && statistics_ != nullptr; }

  // The input statistics with each equalized layer's output channels scaled as its weights
  // were (a channel's mean and standard deviation scale with it).
  BatchNormStatistics rescaled() const {
    BatchNormStatistics stats = *options_.statistics;
    for (const auto& [node, scales] : output_scales_) {
      auto it = stats.find(model_.graph.nodes[node].name);
      if (it == stats.end() || it->second.beta.size() != scales.size()) continue;
      for (size_t i = 0; i < scales.size(); ++i) {
        it->second.gamma[i] *= scales[i];
        it->second.beta[i] *= scales[i];
      }
    }
    return stats;
  }

  // High-bias absorption for one pair; returns the channels that gave up some bias.
  int64_t absorb_high_bias(const Pair& p) {
    const Graph& g = model_.graph;
    const std::string& name = g.nodes[p.first.node].name;
    const auto stats = statistics_->find(name);
    if (!p.relu || p.first.bias.empty() || p.second.bias.empty() || stats == statistics_->end() ||
        static_cast<int64_t>(stats->second.beta.size()) != p.first.map.outputs)
      return 0;
    float* b1 = data(p.first.bias);
    float* b2 = data(p.second.bias);
    const float* w2 = data(p.second.weight);
    int64_t channels = 0;
    double largest = 0.0;
    for (int64_t i = 0; i < p.first.map.outputs; ++i) {
      double& beta = stats->second.beta[i];
      const double c = std::max(0.0, beta - 3.0 * std::fabs(stats->second.gamma[i]));
      if (!(c > 0.0)) continue;
      ++channels;
      largest = std::max(largest, c);
      beta -= c;  // the first layer's outputs are c lower from here on
      b1[i] = static_cast<float>(b1[i] - c);
      p.second.map.each_input(i, [&](int64_t k) {
        float& b = b2[p.second.map.output_of(k)];
        b = static_cast<float>(b + w2[k] * c);
      });
    }
    if (channels > 0) {
      std::ostringstream note;
      note.precision(3);
      note << "cle: high-bias absorption " << p.path << ": " << channels << " channels, up to "
           << largest;
      notes_.push_back(note.str());
    }
    return channels;
  }

  Model model_;
  CleOptions options_;
  // By node: CLE's total factor on each output channel of the layer.
  std::map<size_t, std::vector<double>> output_scales_;
  // options_.statistics as equalization and absorption leave them; null without them.
  std::shared_ptr<BatchNormStatistics> statistics_;
  TensorUses uses_;
  std::vector<Pair> pairs_;
  std::vector<std::string> notes_;
  std::set<std::string> owned_;
  int relu6_replaced_ = 0;
};

}  // namespace

void scale_channel_pair(Model& model, const std::string& first, const std::string& second,
                        const std::vector<double>& factors) {
  const TensorUses uses(model.graph);
  const auto layer_named = [&](const std::string& name) {
    for (size_t i = 0; i < model.graph.nodes.size(); ++i) {
      if (model.graph.nodes[i].name != name) continue;
      std::string why;
      std::optional<Layer> layer = layer_of(model.graph, uses, i, why);
      require(layer.has_value(), ErrorCode::kInvalidArgument,
              model.graph.nodes[i].label() + ": not a layer CLE can scale" +
                  (why.empty() ? std::string() : " (" + why + ")"));
      return *layer;
    }
    fail(ErrorCode::kInvalidArgument, "no node named '" + name + "'");
  };
  const Layer a = layer_named(first), b = layer_named(second);
  require(static_cast<int64_t>(factors.size()) == a.map.outputs && a.map.outputs == b.map.inputs,
          ErrorCode::kInvalidArgument,
          "scale_channel_pair: " + std::to_string(factors.size()) + " factors for " +
              model.graph.nodes[a.node].label() + " with " + std::to_string(a.map.outputs) +
              " output channels feeding " + std::to_string(b.map.inputs) + " inputs");
  for (const std::string& name : {a.weight, a.bias, b.weight})
    if (!name.empty()) model.graph.initializers[name] = model.graph.initializers.at(name).clone();
  scale_layers(model.graph, a, b, factors);
}

TransformOutcome equalize_cross_layer(const Model& model, const CleOptions& options) {
  require(options.steps == -1 || options.steps >= 1, ErrorCode::kInvalidArgument,
          "cross-layer equalization: steps is " + std::to_string(options.steps) +
              "; give -1 (until converged) or 1 or more");
  return Equalizer(model, options).run();
}

}  // namespace qsim
