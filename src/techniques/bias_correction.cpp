#include "techniques/bias_correction.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "graph/op_info.h"
#include "graph/tensor_uses.h"
#include "runtime/engine.h"
#include "techniques/layer_channels.h"
#include "techniques/model_samples.h"
#include "util/error.h"

namespace qsim {
namespace {

constexpr int64_t kRunSamples = 64;  // samples per run while measuring

struct BiasedLayer {
  size_t node = 0;
  std::string bias;
  int64_t channels = 0;
  // With analytical correction: the layer's channels and the mean of each input channel.
  std::optional<Layer> layer;
  std::vector<double> expected_input;
};

// Per output channel (axis 1 of [N, C, ...]), the sum of a layer's outputs and their count.
struct ChannelSums {
  std::vector<double> sums;
  int64_t per_channel = 0;

  void add(const Tensor& y) {
    const int64_t channels = static_cast<int64_t>(sums.size());
    const int64_t images = y.dim(0);
    const int64_t inner = y.size() / (images * channels);
    const float* v = y.data<float>();
    for (int64_t n = 0; n < images; ++n)
      for (int64_t c = 0; c < channels; ++c) {
        double s = 0.0;
        const float* p = v + (n * channels + c) * inner;
        for (int64_t k = 0; k < inner; ++k) s += p[k];
        sums[static_cast<size_t>(c)] += s;
      }
    per_channel += images * inner;
  }
  double mean(size_t c) const { return sums[c] / static_cast<double>(per_channel); }
};

class Corrector {
 public:
  Corrector(QuantSim& sim, const BiasCorrectionOptions& options, const ProgressFn& progress)
      : sim_(sim), options_(options), progress_(progress), budget_(options.memory_budget_bytes) {}

  BiasCorrectionReport run(const BatchReader& next_batch) {
    require(sim_.ready(), ErrorCode::kState,
            "bias correction: not every quantized tensor has an encoding yet; calibrate (or load "
            "encodings) first");
    require(options_.samples >= 1, ErrorCode::kInvalidArgument,
            "bias correction: samples is " + std::to_string(options_.samples) + "; give 1 or more");
    const auto float_model = std::make_shared<const Model>(sim_.original_float_model());
    const Engine checker(float_model, EngineOptions{.num_threads = 1, .fuse_layers = false});
    ModelSamples samples(checker, next_batch, sim_.options().nan_policy, options_.samples, budget_,
                         "bias correction");
    require(samples.count() > 0, ErrorCode::kInvalidArgument,
            "bias correction: the calibration data reader gave no sample; it needs data");
    report_.samples = samples.count();
    find_layers(*float_model);
    // A scratch simulation of the untuned model on the session's grids, which the corrections
    // go into layer by layer; the session gets them all at the end, or nothing.
    QuantSimOptions scratch_options = sim_.options();
    scratch_options.transforms.clear();  // the model is already transformed
    QuantSim scratch(*float_model, scratch_options);
    scratch.load_encodings(sim_.encodings(), "the session's encodings");
    if (options_.analytical) find_expected_inputs(*float_model);
    const std::vector<ChannelSums> float_sums = measure(scratch, samples, false);
    std::map<std::string, Tensor> corrected;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const BiasedLayer& layer = layers_[i];
      const bool analytical = !layer.expected_input.empty();
      const std::vector<double> shifts =
          analytical ? analytical_shifts(*float_model, scratch, layer)
                     : measured_shifts(measure(scratch, samples, true, i).at(i), float_sums[i]);
      Tensor bias = float_model->graph.initializers.at(layer.bias).clone();
      double largest = 0.0;
      for (size_t c = 0; c < static_cast<size_t>(layer.channels); ++c) {
        largest = std::max(largest, std::fabs(shifts[c]));
        bias.data<float>()[c] = static_cast<float>(bias.data<float>()[c] - shifts[c]);
      }
      corrected[layer.bias] = bias;
      scratch.set_tuned_parameters(corrected, {"bias_correction", {}}, {});
      report_.analytical_layers += analytical;
      std::ostringstream note;
      note.precision(3);
      note << "bias correction: " << float_model->graph.nodes[layer.node].label()
           << (analytical ? " (analytical)" : "") << ": largest mean shift of a channel "
           << largest;
      report_.notes.push_back(note.str());
      if (progress_ && !progress_(static_cast<int64_t>(i + 1), static_cast<int64_t>(layers_.size()),
                                  report_.notes.back()))
        fail(ErrorCode::kCancelled, "bias correction: cancelled");
    }
    report_.layers = static_cast<int64_t>(layers_.size());
    AppliedTechnique record{"bias_correction", {}};
    record.options["samples"] = std::to_string(report_.samples);
    record.options["layers"] = std::to_string(report_.layers);
    if (options_.analytical)
      record.options["analytical_layers"] = std::to_string(report_.analytical_layers);
    sim_.set_tuned_parameters(corrected, record, report_.notes);
    return report_;
  }

 private:
  void find_layers(const Model& model) {
    const Graph& g = model.graph;
    for (size_t n = 0; n < g.nodes.size(); ++n) {
      const Node& node = g.nodes[n];
      if (!has_int32_bias(node)) continue;
      const ParamQuantizer* w =
          node.has_input(1) ? sim_.placement().find_param(node.inputs[1]) : nullptr;
      if (w == nullptr) continue;  // a float layer: nothing shifts its mean
      const Tensor* bias = node.has_input(2) ? g.find_initializer(node.inputs[2]) : nullptr;
      if (bias == nullptr || bias->dtype() != DType::kFloat32 || bias->rank() != 1) {
        report_.notes.push_back("bias correction: " + node.label() +
                                " left alone: it has no constant float bias vector");
        continue;
      }
      layers_.push_back({n, node.inputs[2], bias->dim(0), std::nullopt, {}});
      index_of_node_[n] = layers_.size() - 1;
    }
  }

  // For each layer whose input comes from a layer with statistics, directly or through Relu or
  // a constant Clip, and whose channels layer_of knows: the mean of each input channel.
  void find_expected_inputs(const Model& model) {
    const std::shared_ptr<const BatchNormStatistics>& stats = sim_.layer_statistics();
    if (!stats) {
      report_.notes.push_back(
          "bias correction: no BatchNormalization statistics (BN folding did not run, or a "
          "transform after it changed the layers), so every layer is corrected empirically");
      return;
    }
    const Graph& g = model.graph;
    const TensorUses uses(g);
    const double inf = std::numeric_limits<double>::infinity();
    for (BiasedLayer& biased : layers_) {
      std::string why;
      std::optional<Layer> layer = layer_of(g, uses, biased.node, why);
      auto producer = uses.producer.find(g.nodes[biased.node].inputs.at(0));
      if (!layer || producer == uses.producer.end()) continue;
      double low = -inf, high = inf;
      const Node* source = &g.nodes[producer->second];
      if (source->domain.empty() && (source->op_type == "Relu" || source->op_type == "Clip")) {
        if (source->op_type == "Relu") {
          low = 0.0;
        } else {
          const std::optional<ClipBounds> bounds = clip_bounds(g, *source);
          if (!bounds) continue;
          low = bounds->low;
          high = bounds->high;
        }
        auto before = uses.producer.find(source->inputs.at(0));
        if (before == uses.producer.end()) continue;
        source = &g.nodes[before->second];
      }
      auto it = stats->find(source->name);
      if (it == stats->end() || static_cast<int64_t>(it->second.beta.size()) != layer->map.inputs)
        continue;
      for (size_t c = 0; c < it->second.beta.size(); ++c)
        biased.expected_input.push_back(
            clipped_normal_mean(it->second.beta[c], std::fabs(it->second.gamma[c]), low, high));
      biased.layer = std::move(layer);
    }
  }

  // (W_q - W) E[x] per output channel, W_q the weight on the session's grid.
  std::vector<double> analytical_shifts(const Model& model, const QuantSim& sim,
                                        const BiasedLayer& biased) const {
    const Layer& layer = *biased.layer;
    const Tensor& weight = model.graph.initializers.at(layer.weight);
    const EncodingSet encodings = sim.encodings();
    const TensorEncoding* encoding = encodings.find(layer.weight);
    require(encoding != nullptr && encoding->encoding.has_value(), ErrorCode::kInternal,
            "bias correction: weight '" + layer.weight + "' has no encoding");
    Tensor quantized = weight.clone();
    fake_quantize(quantized, *encoding->encoding);
    const float* w = weight.data<float>();
    const float* q = quantized.data<float>();
    std::vector<double> shifts(static_cast<size_t>(biased.channels), 0.0);
    for (int64_t i = 0; i < layer.map.inputs; ++i) {
      const double mean = biased.expected_input[static_cast<size_t>(i)];
      layer.map.each_input(i, [&](int64_t k) {
        shifts[static_cast<size_t>(layer.map.output_of(k))] += (double{q[k]} - w[k]) * mean;
      });
    }
    return shifts;
  }

  static std::vector<double> measured_shifts(const ChannelSums& quantized,
                                             const ChannelSums& reference) {
    std::vector<double> shifts(quantized.sums.size());
    for (size_t c = 0; c < shifts.size(); ++c) shifts[c] = quantized.mean(c) - reference.mean(c);
    return shifts;
  }

  // The layers' output sums over every sample, in the float model or the simulation; with
  // `only`, the simulation measures that layer alone.
  std::vector<ChannelSums> measure(QuantSim& sim, const ModelSamples& samples, bool quantized,
                                   std::optional<size_t> only = std::nullopt) {
    std::vector<ChannelSums> sums(layers_.size());
    for (size_t i = 0; i < layers_.size(); ++i)
      sums[i].sums.assign(static_cast<size_t>(layers_[i].channels), 0.0);
    const QuantSim::NodeObserver observe = [&](size_t node, const std::vector<Tensor*>& outputs) {
      auto it = index_of_node_.find(node);
      if (it == index_of_node_.end() || (only && it->second != *only)) return;
      const Tensor& y = *outputs.at(0);
      require(y.rank() >= 2 && y.dim(1) == layers_[it->second].channels, ErrorCode::kShape,
              "bias correction: the output of layer " + std::to_string(node) + " is " +
                  y.describe() + ", not [N, C, ...]");
      sums[it->second].add(y);
    };
    for (int64_t first = 0; first < samples.count(); first += kRunSamples) {
      const std::vector<Tensor> batch =
          samples.batch(first, std::min(kRunSamples, samples.count() - first));
      if (quantized) {
        sim.run_quantized(batch, observe);
      } else {
        sim.run_float(batch, observe);
      }
    }
    return sums;
  }

  QuantSim& sim_;
  BiasCorrectionOptions options_;
  ProgressFn progress_;
  MemoryBudget budget_;
  std::vector<BiasedLayer> layers_;
  std::map<size_t, size_t> index_of_node_;
  BiasCorrectionReport report_;
};

}  // namespace

double clipped_normal_mean(double mean, double stddev, double low, double high) {
  if (!(stddev > 0.0)) return std::clamp(mean, low, high);
  const auto pdf = [](double z) { return std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI); };
  const auto cdf = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
  const double a = (low - mean) / stddev, b = (high - mean) / stddev;
  // low P(x < low) + E[x; low <= x <= high] + high P(x > high); an infinite bound's term is 0
  // (its pdf is 0 there, and its probability term is left out).
  double e = mean * (cdf(b) - cdf(a)) + stddev * (pdf(a) - pdf(b));
  if (std::isfinite(low)) e += low * cdf(a);
  if (std::isfinite(high)) e += high * (1.0 - cdf(b));
  return e;
}

BiasCorrectionReport correct_bias(QuantSim& sim, const BatchReader& next_batch,
                                  const BiasCorrectionOptions& options,
                                  const ProgressFn& progress) {
  return Corrector(sim, options, progress).run(next_batch);
}

}  // namespace qsim
