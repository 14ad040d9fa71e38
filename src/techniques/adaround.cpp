#include "techniques/adaround.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>

#include "runtime/blas.h"
#include "runtime/engine.h"
#include "techniques/adaround_depthwise_conv.h"
#include "techniques/adaround_direct_conv.h"
#include "techniques/adaround_layer.h"
#include "techniques/adaround_objective.h"
#include "techniques/adaround_optimizer.h"
#include "techniques/adaround_winograd_conv.h"
#include "techniques/layer_input_cache.h"
#include "techniques/model_samples.h"
#include "util/error.h"
#include "util/number_text.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

// Model samples per engine run while caching a layer, at most, and the bytes a run's lowered
// inputs and targets may take (runs shrink to fit).
constexpr int64_t kMaxRunSamples = 32;
constexpr int64_t kRunBytes = int64_t{64} << 20;

// `view_order` (a [groups][rows][depth] view) rearranged as [depth][groups x rows].
std::vector<int64_t> by_depth(const std::vector<int64_t>& view_order, const LayerShape& shape) {
  const int64_t outputs = shape.outputs();  // the view is [groups][rows][depth]
  std::vector<int64_t> order(view_order.size());
  for (int64_t o = 0; o < outputs; ++o)
    for (int64_t k = 0; k < shape.depth; ++k)
      order[static_cast<size_t>(k * outputs + o)] =
          view_order[static_cast<size_t>(o * shape.depth + k)];
  return order;
}

bool lowered_rows_are_planes(const WindowGeometry& window) {
  for (int d = 0; d < 3; ++d)
    if (window.kernel[d] != 1 || window.stride[d] != 1 || window.pad_begin[d] != 0 ||
        window.pad_end[d] != 0)
      return false;
  return true;
}

// The part of `model` that computes `tensor`, with `tensor` as its only output.
Model upstream_model(const Model& model, const std::string& tensor) {
  Model part = model;
  std::set<std::string> needed = {tensor};
  std::vector<Node> kept;
  for (auto node = model.graph.nodes.rbegin(); node != model.graph.nodes.rend(); ++node) {
    if (std::none_of(node->outputs.begin(), node->outputs.end(),
                     [&](const std::string& out) { return needed.count(out) != 0; }))
      continue;
    for (const std::string& in : node->inputs)
      if (!in.empty()) needed.insert(in);
    kept.push_back(*node);
  }
  part.graph.nodes.assign(kept.rbegin(), kept.rend());
  part.graph.outputs = {ValueInfo{tensor, DType::kFloat32, 1, std::nullopt}};
  return part;
}

// One tensor of a model for given model inputs: an input itself, or the output of the part
// of the model that computes it (so that runs stop there).
class TensorSource {
 public:
  TensorSource(const Model& model, const std::string& tensor, std::shared_ptr<ThreadPool> pool) {
    const auto& inputs = model.graph.inputs;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].name == tensor) input_ = static_cast<int>(i);
    if (input_ < 0)
      engine_ = std::make_unique<Engine>(
          std::make_shared<const Model>(upstream_model(model, tensor)),
          EngineOptions{.num_threads = pool->size(), .pool = std::move(pool)});
  }
  Tensor operator()(const std::vector<Tensor>& inputs) const {
    return engine_ ? engine_->run(inputs).at(0) : inputs[static_cast<size_t>(input_)];
  }

 private:
  int input_ = -1;
  std::unique_ptr<Engine> engine_;
};

// ----- One AdaRound / AdaQuant call -----

// The session's pool when it has the threads asked for (0: any), so that a session's work
// shares one set of threads; a pool of its own for another count.
std::shared_ptr<ThreadPool> session_or_own_pool(const QuantSim& sim, int num_threads) {
  const std::shared_ptr<ThreadPool>& session = sim.options().thread_pool;
  if (session && (num_threads <= 0 || num_threads == session->size())) return session;
  return std::make_shared<ThreadPool>(num_threads);
}

class AdaRoundRun {
 public:
  AdaRoundRun(QuantSim& sim, const AdaRoundOptions& options, const ProgressFn& progress)
      : sim_(sim),
        options_(options),
        progress_(progress),
        pool_(session_or_own_pool(sim, options.num_threads)),
        budget_(options.memory_budget_bytes),
        float_model_(std::make_shared<const Model>(sim.original_float_model())) {}

  AdaRoundReport run(const BatchReader& next_batch) {
    const Engine input_checker(float_model_, EngineOptions{.num_threads = 1, .fuse_layers = false});
    ModelSamples samples(input_checker, next_batch, sim_.options().nan_policy, options_.samples,
                         budget_, "adaround");
    require(samples.count() > 0, ErrorCode::kInvalidArgument,
            "adaround: the calibration data reader gave no sample; AdaRound needs data");
    report_.samples = samples.count();
    const auto start = std::chrono::steady_clock::now();
    find_layers();
    bind_layers(samples);
    total_ = static_cast<int64_t>(layers_.size()) * options_.mode_iterations();
    Model current = *float_model_;
    for (size_t i = 0; i < layers_.size(); ++i) optimize(i, samples, current);
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report_.summary = summary();
    check_cancel(report_.summary);  // the last progress call: done == total
    sim_.set_tuned_parameters(tuned_, technique(), report_.notes);
    return std::move(report_);
  }

 private:
  bool adaround() const { return options_.mode == AdaRoundMode::kAdaRound; }
  const char* name() const { return adaround() ? "adaround" : "adaquant"; }

  void find_layers() {
    for (const TensorEncoding& p : sim_.encodings().params)
      if (p.role == TensorRole::kWeight && p.encoding) weight_encodings_[p.name] = *p.encoding;
    std::set<std::string> weights;
    for (const auto& [weight, encoding] : weight_encodings_) weights.insert(weight);
    LayerSearch search = find_adaround_layers(*float_model_, weights);
    layers_ = std::move(search.layers);
    report_.notes = std::move(search.notes);
  }

  // Fixes each layer's geometry from one sample's run, and how many of its products (samples)
  // a model sample makes.
  void bind_layers(const ModelSamples& samples) {
    const std::vector<Tensor> one = samples.batch(0, 1);
    for (const auto& layer : layers_) {
      const Tensor x = TensorSource(*float_model_, layer->input(), pool_)(one);
      layer->bind(x.shape());
      per_model_sample_.push_back(layer->samples_in(x));
    }
  }

  void check_cancel(const std::string& message) {
    if (progress_ && !progress_(done_, total_, message))
      fail(ErrorCode::kCancelled,
           std::string(name()) + " cancelled (" + message + "); the session is unchanged");
  }

  std::string layer_text(size_t i) const {
    return std::string(name()) + " layer " + std::to_string(i + 1) + "/" +
           std::to_string(layers_.size()) + " " + layers_[i]->node().label();
  }

  // Runs the partly optimized model (for the layer's inputs) and the float model (for its
  // targets) over every sample, and hands each run's lowered inputs ([groups * depth] rows;
  // left out unless `lower_inputs`) and targets ([groups * rows] rows), `columns` values
  // each, the input tensor itself, and the index of the run's first layer sample to `consume`.
  using Consumer = std::function<void(const float*, const float*, const Tensor&, int64_t, int64_t)>;
  void capture(size_t i, const ModelSamples& samples, const Model& current, bool lower_inputs,
               const Consumer& consume) {
    const LinearLayer& layer = *layers_[i];
    const TensorSource input(current, layer.input(), pool_);
    const TensorSource target(*float_model_, layer.target(), pool_);
    const LayerShape& shape = layer.shape();
    const int64_t per_sample = per_model_sample_[i];
    const int64_t sample_bytes =
        per_sample * (shape.input_floats() + shape.output_floats()) * int64_t{sizeof(float)};
    const int64_t run =
        std::clamp<int64_t>(kRunBytes / std::max<int64_t>(1, sample_bytes), 1, kMaxRunSamples);
    std::vector<float> x, t;
    for (int64_t first = 0; first < samples.count(); first += run) {
      const int64_t count = std::min(run, samples.count() - first);
      const int64_t products = count * per_sample;
      const int64_t columns = products * shape.positions;
      if (lower_inputs) x.resize(static_cast<size_t>(shape.groups * shape.depth * columns));
      t.resize(static_cast<size_t>(shape.outputs() * columns));
      const std::vector<Tensor> inputs = samples.batch(first, count);
      // Checks the sample count, then lowers unless it is the input and that is left out.
      auto lower = [&](const Tensor& tensor, bool input) {
        const int64_t held = input ? layer.samples_in(tensor) : layer.output_samples_in(tensor);
        require(held == products, ErrorCode::kShape,
                "adaround: " + layer.node().label() + ": '" +
                    (input ? layer.input() : layer.target()) + "' holds " + std::to_string(held) +
                    " samples for " + std::to_string(count) + " model samples, not " +
                    std::to_string(products));
        if (input && !lower_inputs) return;
        for (int64_t j = 0; j < products; ++j) {
          if (input) {
            layer.lower_input(tensor, j, x.data() + j * shape.positions, columns);
          } else {
            layer.lower_output(tensor, j, t.data() + j * shape.positions, columns);
          }
        }
      };
      const Tensor layer_input = input(inputs);
      lower(layer_input, true);
      lower(target(inputs), false);
      consume(x.data(), t.data(), layer_input, first * per_sample, products);
      check_cancel(layer_text(i) + ": caching inputs, " + std::to_string(first + count) + "/" +
                   std::to_string(samples.count()) + " samples");
    }
  }

  // The second moments of a layer with no nonlinearity after it.
  std::unique_ptr<SecondMoments> moments_of(size_t i, const ModelSamples& samples,
                                            const Model& current, bool train_bias) {
    const LinearLayer& layer = *layers_[i];
    const LayerShape& shape = layer.shape();
    auto moments = std::make_unique<SecondMoments>(shape, train_bias);
    capture(i, samples, current, true,
            [&](const float* x, const float* t, const Tensor&, int64_t, int64_t products) {
              const int64_t columns = products * shape.positions;
              std::vector<float> residual(t, t + shape.outputs() * columns);
              for (int64_t m = 0; m < shape.outputs(); ++m)
                for (int64_t p = 0; p < columns; ++p)
                  residual[static_cast<size_t>(m * columns + p)] -= layer.bias()[m];
              moments->add(x, residual.data(), columns, *pool_);
            });
    return moments;
  }

  // Every sample's lowered (or compact) input and target, for layers with an activation
  // after them; a Conv's as `laid_out` lays them out when its loss has a layout of its own.
  void cache_samples(size_t i, const ModelSamples& samples, const Model& current,
                     SampleCache& inputs, SampleCache& targets, const ConvSampleLayout* laid_out) {
    const LayerShape& shape = layers_[i]->shape();
    const CompactInput* compact = layers_[i]->compact_input();
    std::vector<float> block, arranged;
    auto write = [&](SampleCache& cache, int64_t sample, const float* data, bool target) {
      if (laid_out != nullptr) {
        arranged.resize(static_cast<size_t>(cache.sample_floats()));
        if (target)
          laid_out->lay_out_target(data, arranged.data());
        else
          laid_out->lay_out_input(data, arranged.data());
        data = arranged.data();
      }
      cache.write(sample, data);
    };
    auto store = [&](const float* rows, int64_t count, int64_t columns, int64_t j,
                     SampleCache& cache, int64_t sample, bool target) {
      block.resize(static_cast<size_t>(count * shape.positions));
      for (int64_t r = 0; r < count; ++r)
        std::copy(rows + r * columns + j * shape.positions,
                  rows + r * columns + (j + 1) * shape.positions,
                  block.data() + r * shape.positions);
      write(cache, sample, block.data(), target);
    };
    std::vector<float> compact_block(compact ? static_cast<size_t>(compact->floats()) : 0);
    capture(
        i, samples, current, compact == nullptr,
        [&](const float* x, const float* t, const Tensor& input, int64_t first, int64_t products) {
          const int64_t columns = products * shape.positions;
          for (int64_t j = 0; j < products; ++j) {
            if (compact != nullptr) {
              compact->store(input, j, compact_block.data());
              write(inputs, first + j, compact_block.data(), false);
            } else {
              store(x, shape.groups * shape.depth, columns, j, inputs, first + j, false);
            }
            store(t, shape.outputs(), columns, j, targets, first + j, true);
          }
        });
  }

  // A layer's loss and what it reads.
  struct LayerLoss {
    std::unique_ptr<SecondMoments> moments;
    std::unique_ptr<SampleCache> inputs, targets;
    std::unique_ptr<ReconstructionLoss> loss;
  };

  // The layouts of the Conv losses that read their own (all take weights by depth), when one
  // covers layer i (a Conv with an activation after it): depthwise Convs take the depthwise
  // loss, 3x3 stride-1 Convs the Winograd form (16 products per 2x2 block instead of 36), other
  // Convs with 16k output channels the direct loss.
  struct ConvPlan {
    std::optional<DepthwiseConvLayout> depthwise;
    std::optional<WinogradConvLayout> winograd;
    std::optional<DirectConvLayout> direct;
    const ConvSampleLayout* layout() const {
      if (depthwise) return &*depthwise;
      if (winograd) return &*winograd;
      if (direct) return &*direct;
      return nullptr;
    }
  };
  ConvPlan conv_plan(size_t i) const {
    const LinearLayer& layer = *layers_[i];
    const CompactInput* compact = layer.compact_input();
    // The layouts read input planes: the compact form, or the lowered rows when those are the
    // planes themselves (a 1x1 window with unit strides and no padding).
    const WindowGeometry* window = compact ? compact->window() : layer.window();
    if (compact == nullptr && window != nullptr && !lowered_rows_are_planes(*window))
      window = nullptr;
    ConvPlan plan;
    const LayerShape& shape = layer.shape();
    const Activation& activation = layer.activation();
    if (activation.kind == ActivationKind::kIdentity || window == nullptr) return plan;
    if (DepthwiseConvLayout::covers(shape, *window, activation))
      plan.depthwise.emplace(shape, *window);
    else if (WinogradConvLayout::covers(shape, *window, activation))
      plan.winograd.emplace(shape, *window);
    else if (DirectConvLayout::covers(shape, *window, activation))
      plan.direct.emplace(shape, *window);
    return plan;
  }

  LayerLoss make_loss(size_t i, const ModelSamples& samples, const Model& current,
                      bool bias_trained, const WeightGrid& grid, const ConvPlan& plan) {
    const LinearLayer& layer = *layers_[i];
    const LayerShape& shape = layer.shape();
    LayerLoss made;
    if (layer.activation().kind == ActivationKind::kIdentity) {
      made.moments = moments_of(i, samples, current, bias_trained);
      made.loss =
          std::make_unique<SecondMomentLoss>(*made.moments, grid.weights, layer.bias(), *pool_);
      return made;
    }
    const int64_t products = samples.count() * per_model_sample_[i];
    const CompactInput* compact = layer.compact_input();
    const ConvSampleLayout* laid_out = plan.layout();
    const int64_t input_floats = laid_out  ? laid_out->input_floats()
                                 : compact ? compact->floats()
                                           : shape.input_floats();
    made.inputs = std::make_unique<SampleCache>(products, input_floats, budget_,
                                                "inputs of " + layer.node().label());
    made.targets = std::make_unique<SampleCache>(products, shape.output_floats(), budget_,
                                                 "targets of " + layer.node().label());
    cache_samples(i, samples, current, *made.inputs, *made.targets, laid_out);
    const Activation& activation = layer.activation();
    const int64_t batch = options_.batch_samples;
    if (plan.depthwise)
      made.loss = std::make_unique<DepthwiseConvLoss>(*plan.depthwise, activation, *made.inputs,
                                                      *made.targets, batch, *pool_);
    else if (plan.winograd)
      made.loss = std::make_unique<WinogradConvLoss>(*plan.winograd, activation, *made.inputs,
                                                     *made.targets, batch, *pool_);
    else if (plan.direct)
      made.loss = std::make_unique<DirectConvLoss>(*plan.direct, activation, *made.inputs,
                                                   *made.targets, batch, *pool_);
    else
      made.loss = std::make_unique<MinibatchLoss>(shape, activation, *made.inputs, *made.targets,
                                                  batch, *pool_, compact);
    return made;
  }

  void optimize(size_t i, const ModelSamples& samples, Model& current) {
    const LinearLayer& layer = *layers_[i];
    const bool train_bias = !adaround() && options_.adaquant.train_bias;
    const bool bias_trained = train_bias && !layer.trainable_bias().empty();
    if (train_bias && !bias_trained)
      report_.notes.push_back(std::string(name()) + ": " + layer.node().label() +
                              ": the bias is not trained (it is not a plain per-channel vector)");
    const Tensor& weight = *float_model_->graph.find_initializer(layer.weight());
    const ConvPlan plan = conv_plan(i);
    // Element k of the grid (and of the optimizer's arrays) is element order[k] of the weight.
    const std::vector<int64_t> order =
        plan.layout() ? by_depth(layer.weight_order(), layer.shape()) : layer.weight_order();
    const WeightGrid grid = weight_grid(weight, weight_encodings_.at(layer.weight()), order);
    const LayerLoss made = make_loss(i, samples, current, bias_trained, grid, plan);
    ReconstructionLoss* loss = made.loss.get();

    AdaRoundLayerReport entry;
    entry.layer = layer.node().label();
    entry.weight = layer.weight();
    entry.activation = activation_name(layer.activation().kind);
    entry.second_moments = made.moments != nullptr;
    const int64_t iterations = options_.mode_iterations();
    const std::string text = layer_text(i);
    const uint64_t seed = splitmix64_mix(options_.seed ^ splitmix64_mix(i + 1));  // per layer
    const auto start = std::chrono::steady_clock::now();
    TunedLayer tuned =
        optimize_layer(grid, layer.bias(), bias_trained, *loss, options_, seed, *pool_,
                       [&](int64_t it, double value) {
                         ++done_;
                         check_cancel(text + ": iteration " + std::to_string(it + 1) + "/" +
                                      std::to_string(iterations) + ", loss " + number_text(value));
                       });
    entry.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    done_ = static_cast<int64_t>(i + 1) * iterations;
    entry.iterations = tuned.iterations;
    entry.flops = static_cast<double>(tuned.iterations) *
                  loss->flops(std::min(options_.batch_samples, loss->samples()));
    const std::vector<float>& final_bias = bias_trained ? tuned.bias : layer.bias();
    entry.nearest_loss = loss_over_all(*loss, nearest_weights(grid), layer.bias());
    entry.final_loss = loss_over_all(*loss, tuned.weights, final_bias);
    report_.layers.push_back(entry);

    Tensor tuned_weight = weight.clone();
    for (size_t k = 0; k < tuned.weights.size(); ++k)
      tuned_weight.data<float>()[order[k]] = tuned.weights[k];
    keep(layer.weight(), tuned_weight, current);
    if (bias_trained) {
      Tensor bias = float_model_->graph.find_initializer(layer.trainable_bias())->clone();
      std::copy(tuned.bias.begin(), tuned.bias.end(), bias.data<float>());
      keep(layer.trainable_bias(), bias, current);
    }
  }

  double loss_over_all(ReconstructionLoss& loss, const std::vector<float>& weights,
                       const std::vector<float>& bias) const {
    std::vector<int64_t> all(static_cast<size_t>(loss.samples()));
    std::iota(all.begin(), all.end(), int64_t{0});
    return loss.evaluate(weights.data(), bias.data(), all, nullptr, nullptr, nullptr);
  }

  void keep(const std::string& name, const Tensor& value, Model& current) {
    tuned_[name] = value;
    current.graph.initializers[name] = value;
  }

  std::string summary() const {
    int64_t iterations = 0;
    double flops = 0.0, seconds = 0.0;
    for (const AdaRoundLayerReport& layer : report_.layers) {
      iterations += layer.iterations;
      flops += layer.flops;
      seconds += layer.seconds;
    }
    char text[160];
    std::snprintf(text, sizeof text,
                  "%lld samples, %lld iterations, %.2f s, %.1f GFLOP, %.1f GFLOP/s",
                  static_cast<long long>(report_.samples), static_cast<long long>(iterations),
                  report_.seconds, flops * 1e-9, seconds > 0.0 ? flops * 1e-9 / seconds : 0.0);
    return std::string(name()) + ": " + std::to_string(report_.layers.size()) + " layers, " + text;
  }

  AppliedTechnique technique() const {
    AppliedTechnique t{name(), {}};
    auto& o = t.options;
    o["iterations"] = std::to_string(options_.mode_iterations());
    o["batch_samples"] = std::to_string(options_.batch_samples);
    o["samples"] = std::to_string(report_.samples);
    o["seed"] = std::to_string(options_.seed);
    o["layers"] = std::to_string(report_.layers.size());
    if (adaround()) {
      o["regularization"] = number_text(options_.regularization);
      o["beta_start"] = number_text(options_.beta_start);
      o["beta_end"] = number_text(options_.beta_end);
      o["warm_start"] = number_text(options_.warm_start);
      o["learning_rate"] = number_text(options_.learning_rate);
      o["zeta"] = number_text(options_.zeta);
      o["gamma"] = number_text(options_.gamma);
    } else {
      o["learning_rate"] = number_text(options_.adaquant.learning_rate);
      o["early_stop"] = options_.adaquant.early_stop ? "true" : "false";
      o["train_bias"] = options_.adaquant.train_bias ? "true" : "false";
    }
    return t;
  }

  QuantSim& sim_;
  AdaRoundOptions options_;
  const ProgressFn& progress_;
  std::shared_ptr<ThreadPool> pool_;
  MemoryBudget budget_;
  std::shared_ptr<const Model> float_model_;
  std::map<std::string, Encoding> weight_encodings_;
  std::vector<std::unique_ptr<LinearLayer>> layers_;
  std::vector<int64_t> per_model_sample_;
  std::map<std::string, Tensor> tuned_;
  AdaRoundReport report_;
  int64_t done_ = 0;
  int64_t total_ = 0;
};

}  // namespace

// The options are checked (adaround_entry.cpp) before a path is taken.
AdaRoundReport adaround(QuantSim& sim, const BatchReader& next_batch,
                        const AdaRoundOptions& options, const ProgressFn& progress) {
  require(sim.ready(), ErrorCode::kState,
          "adaround: some activations have no encoding yet; calibrate or load encodings first");
  BlasSingleThreadScope one_blas_thread;
  AdaRoundRun run(sim, options, progress);
  return run.run(next_batch);
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
