#include "techniques/smooth_quant.h"

#include <algorithm>
#include <cmath>

#include "graph/name_table.h"
#include "graph/tensor_uses.h"
#include "runtime/engine.h"
#include "techniques/layer_channels.h"
#include "util/error.h"

namespace qsim {
namespace {

// A Gemm or MatMul SmoothQuant can smooth: a layer whose input's channels are its last axis.
bool smoothable(const Node& node) {
  if (!node.domain.empty()) return false;
  if (node.op_type == "Gemm") return node.get_int("transA", 0) == 0;
  return node.op_type == "MatMul";
}

// Relu, LeakyRelu, PRelu: f(x / s) = f(x) / s for s > 0.
bool homogeneous(const Node& node) {
  return node.domain.empty() &&
         (node.op_type == "Relu" || node.op_type == "LeakyRelu" || node.op_type == "PRelu");
}

}  // namespace

ActivationMaxima smooth_quant_statistics(const Model& model, const BatchReader& next_batch,
                                         int64_t samples, NanPolicy nan_policy,
                                         const ProgressFn& progress) {
  Engine engine(std::make_shared<const Model>(model),
                EngineOptions{.num_threads = 1, .fuse_layers = false});
  const Graph& g = engine.model().graph;
  ActivationMaxima maxima;
  RunHooks hooks;
  hooks.after_node = [&](size_t, const Node& node, const std::vector<const Tensor*>& inputs,
                         const std::vector<Tensor*>&) {
    if (!smoothable(node) || inputs.empty() || inputs[0] == nullptr || !node.has_input(1) ||
        !g.is_initializer(node.inputs[1]))
      return;
    const Tensor& x = *inputs[0];
    if (x.dtype() != DType::kFloat32 || x.rank() < 1) return;
    const int64_t channels = x.dim(x.rank() - 1);
    std::vector<double>& m = maxima[node.name];
    if (m.empty()) m.assign(static_cast<size_t>(channels), 0.0);
    const float* v = x.data<float>();
    for (int64_t k = 0; k < x.size(); ++k) {
      require(std::isfinite(v[k]), ErrorCode::kNumeric,
              "smooth quant: the input of " + node.label() + " holds NaN or Inf");
      double& slot = m[static_cast<size_t>(k % channels)];
      slot = std::max(slot, std::fabs(double(v[k])));
    }
  };
  CalibrationStream stream(engine, next_batch, nan_policy, "smooth quant");
  std::vector<Tensor> batch;
  while (stream.samples() < samples && stream.next(batch)) {
    if (!batch.empty()) engine.run(batch, hooks);
    if (progress && !progress(std::min(stream.samples(), samples), samples,
                              "smooth quant: " + std::to_string(stream.samples()) + " samples"))
      fail(ErrorCode::kCancelled,
           "smooth quant: cancelled after " + std::to_string(stream.samples()) + " samples");
  }
  const int64_t seen = stream.samples();
  require(seen > 0, ErrorCode::kInvalidArgument,
          "smooth quant: the calibration data reader gave no sample; it needs data");
  return maxima;
}

TransformOutcome smooth_quant(const Model& model, const ActivationMaxima& maxima,
                              const SmoothQuantOptions& options) {
  require(options.alpha >= 0.0 && options.alpha <= 1.0, ErrorCode::kInvalidArgument,
          "smooth quant: alpha is " + std::to_string(options.alpha) + "; it must be in [0, 1]");
  TransformOutcome out{model, {}, {}, nullptr};
  Graph& g = out.model.graph;
  const TensorUses uses(model.graph);
  const auto& producer = uses.producer;  // node indices stay: the Muls go in at the end
  NameTable names(g);
  int layers = 0, folded = 0, inserted = 0;
  std::vector<std::pair<size_t, Node>> muls;  // inserted before node index
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    if (!smoothable(node)) continue;
    std::string why;
    const std::optional<Layer> layer = layer_of(g, uses, n, why);
    if (!layer) continue;
    const auto stats = maxima.find(node.name);
    if (stats == maxima.end() || static_cast<int64_t>(stats->second.size()) != layer->map.inputs) {
      out.notes.push_back("smooth quant: " + node.label() +
                          " left alone: no activation statistics");
      continue;
    }
    // s_j from the activation's and the weight's maxima.
    const float* w = g.initializers.at(layer->weight).data<float>();
    std::vector<double> divisors(static_cast<size_t>(layer->map.inputs), 1.0);
    for (int64_t j = 0; j < layer->map.inputs; ++j) {
      double wmax = 0.0;
      layer->map.each_input(j, [&](int64_t k) { wmax = std::max(wmax, std::fabs(double(w[k]))); });
      const double xmax = stats->second[static_cast<size_t>(j)];
      if (!(xmax > 0.0) || !(wmax > 0.0)) continue;
      const double s = std::pow(xmax, options.alpha) / std::pow(wmax, 1.0 - options.alpha);
      if (std::isfinite(s) && s > 0.0) divisors[static_cast<size_t>(j)] = s;
    }
    ++layers;
    // Fold X / s into the layer before when X is its output (through a homogeneous activation).
    std::string x = node.inputs.at(0);
    std::optional<size_t> before;
    auto p = producer.find(x);
    if (p != producer.end() && uses.private_to_one_reader(x) && homogeneous(g.nodes[p->second]) &&
        uses.private_to_one_reader(g.nodes[p->second].inputs.at(0))) {
      auto q = producer.find(g.nodes[p->second].inputs.at(0));
      if (q != producer.end()) before = q->second;
    } else if (p != producer.end() && uses.private_to_one_reader(x)) {
      before = p->second;
    }
    std::optional<Layer> previous;
    if (before) previous = layer_of(g, uses, *before, why);
    if (previous && previous->map.outputs == layer->map.inputs) {
      std::vector<double> factors(divisors.size());
      for (size_t j = 0; j < divisors.size(); ++j) factors[j] = 1.0 / divisors[j];
      for (const std::string& name : {previous->weight, previous->bias, layer->weight})
        if (!name.empty()) g.initializers[name] = g.initializers.at(name).clone();
      scale_layers(g, *previous, *layer, factors);
      ++folded;
      out.notes.push_back("smooth quant: " + node.label() + ": folded into " +
                          g.nodes[previous->node].label());
      continue;
    }
    // W_j * s_j, and a Mul by 1/s before the layer.
    Tensor weight = g.initializers.at(layer->weight).clone();
    float* wv = weight.data<float>();
    for (int64_t j = 0; j < layer->map.inputs; ++j) {
      const double s = divisors[static_cast<size_t>(j)];
      layer->map.each_input(j, [&](int64_t k) { wv[k] = static_cast<float>(wv[k] * s); });
    }
    g.initializers[layer->weight] = weight;
    Tensor inverse(DType::kFloat32, {layer->map.inputs});
    for (int64_t j = 0; j < layer->map.inputs; ++j)
      inverse.data<float>()[j] = static_cast<float>(1.0 / divisors[static_cast<size_t>(j)]);
    const std::string scale_name = names.fresh(node.name + "_smooth_quant_scale");
    const std::string smoothed = names.fresh(x + "_smoothed");
    g.initializers[scale_name] = inverse;
    Node mul;
    mul.name = names.fresh(node.name + "_smooth_quant");
    mul.op_type = "Mul";
    mul.inputs = {x, scale_name};
    mul.outputs = {smoothed};
    g.nodes[n].inputs[0] = smoothed;
    muls.emplace_back(n, std::move(mul));
    ++inserted;
    out.notes.push_back("smooth quant: " + node.label() + ": input divided by an inserted Mul");
  }
  for (auto it = muls.rbegin(); it != muls.rend(); ++it)
    g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(it->first), std::move(it->second));
  if (layers > 0) {
    out.record.name = "smooth_quant";
    out.record.options["alpha"] = std::to_string(options.alpha);
    out.record.options["layers"] = std::to_string(layers);
    out.record.options["folded"] = std::to_string(folded);
    out.record.options["inserted"] = std::to_string(inserted);
  }
  return out;
}

}  // namespace qsim
