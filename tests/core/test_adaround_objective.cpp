// AdaRound's building blocks (src/techniques/adaround_*.h): the lowering of each layer kind
// against the runtime's own kernels, the fused loss and gradient against finite differences,
// the second-moment form against the minibatch form, and determinism over thread counts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <span>

#include "path_test.h"
#include "runtime/engine.h"
#include "single_op_model.h"
#include "techniques/adaround_depthwise_conv.h"
#include "techniques/adaround_direct_conv.h"
#include "techniques/adaround_layer.h"
#include "techniques/adaround_objective.h"
#include "techniques/adaround_optimizer.h"
#include "techniques/adaround_winograd_conv.h"
#include "techniques/fast_math.h"
#include "techniques/layer_input_cache.h"
#include "techniques/weight_parameters.h"

using namespace qsim;
using namespace qsim::QSIM_ISA_NS;
using namespace qsim::testing;

namespace {

Tensor random_tensor(Shape shape, uint32_t seed, float low = -1.0f, float high = 1.0f) {
  Tensor t(DType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// x -> op(x, w[, b]) -> y, optionally followed by `activation` -> z.
Model one_layer(const std::string& op, Tensor weight, std::optional<Tensor> bias,
                std::map<std::string, Attribute> attributes, const std::string& activation = "") {
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.inputs.push_back({"x", DType::kFloat32, 1, std::nullopt});
  g.initializers["w"] = std::move(weight);
  Node layer;
  layer.op_type = op;
  layer.name = "layer";
  layer.inputs = {"x", "w"};
  if (bias) {
    g.initializers["b"] = *bias;
    layer.inputs.push_back("b");
  }
  layer.outputs = {"y"};
  layer.attributes = std::move(attributes);
  g.nodes.push_back(layer);
  if (activation.empty()) {
    g.outputs.push_back({"y", DType::kFloat32, 1, std::nullopt});
  } else {
    Node act;
    act.op_type = activation;
    act.name = "act";
    act.inputs = {"y"};
    act.outputs = {"z"};
    g.nodes.push_back(act);
    g.outputs.push_back({"z", DType::kFloat32, 1, std::nullopt});
  }
  return m;
}

// The layer's product through its lowering (W_g X_g + b per group) equals the runtime's output,
// and a compact input (CompactInput) lowers to the very same rows. Returns whether the layer
// has a compact input.
bool check_lowering(const Model& model, const Tensor& x) {
  Engine engine(std::make_shared<const Model>(model));
  const Tensor y = engine.run({x}).at(0);
  LayerSearch search = find_adaround_layers(model, {"w"});
  REQUIRE(search.layers.size() == 1);
  LinearLayer& layer = *search.layers[0];
  layer.bind(x.shape());
  const LayerShape& s = layer.shape();
  const int64_t samples = layer.samples_in(x);
  REQUIRE(samples == layer.output_samples_in(y));
  const Tensor& w = *model.graph.find_initializer("w");
  std::vector<float> view;
  for (int64_t index : layer.weight_order()) view.push_back(w.data<float>()[index]);
  REQUIRE(static_cast<int64_t>(view.size()) == s.weights());
  std::vector<float> lowered(s.input_floats()), expected(s.output_floats());
  double worst = 0.0;
  const CompactInput* compact = layer.compact_input();
  int64_t compact_mismatches = 0;
  for (int64_t n = 0; n < samples; ++n) {
    layer.lower_input(x, n, lowered.data(), s.positions);
    if (compact != nullptr) {
      std::vector<float> stored(static_cast<size_t>(compact->floats()));
      std::vector<float> relowered(lowered.size(), -1.0f);
      std::vector<std::byte> scratch(compact->scratch_bytes());
      compact->prepare_scratch(scratch.data());
      compact->store(x, n, stored.data());
      compact->lower(stored.data(), relowered.data(), s.positions, scratch.data());
      compact_mismatches += relowered != lowered;
    }
    layer.lower_output(y, n, expected.data(), s.positions);
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t r = 0; r < s.rows; ++r)
        for (int64_t p = 0; p < s.positions; ++p) {
          double sum = layer.bias()[g * s.rows + r];
          for (int64_t k = 0; k < s.depth; ++k)
            sum += static_cast<double>(view[(g * s.rows + r) * s.depth + k]) *
                   lowered[(g * s.depth + k) * s.positions + p];
          worst = std::max(worst, std::fabs(sum - expected[(g * s.rows + r) * s.positions + p]));
        }
  }
  CHECK(worst < 1e-4);
  CHECK(compact_mismatches == 0);
  return compact != nullptr;
}

// Random lowered inputs and targets of a layer shape, in memory or on file.
struct LayerData {
  LayerShape shape;
  MemoryBudget budget;
  SampleCache inputs;
  SampleCache targets;
  LayerData(LayerShape s, int64_t samples, uint32_t seed, int64_t budget_bytes = int64_t{1} << 30)
      : shape(s),
        budget(budget_bytes),
        inputs(samples, s.input_floats(), budget, "inputs"),
        targets(samples, s.output_floats(), budget, "targets") {
    const Tensor x = random_tensor({samples, s.input_floats()}, seed);
    const Tensor t = random_tensor({samples, s.output_floats()}, seed + 1, -0.5f, 1.5f);
    for (int64_t i = 0; i < samples; ++i) {
      inputs.write(i, x.data<float>() + i * s.input_floats());
      targets.write(i, t.data<float>() + i * s.output_floats());
    }
  }
};

Activation activation_of(ActivationKind kind, int64_t outputs) {
  Activation a;
  a.kind = kind;
  a.lower = -0.25f;
  a.upper = 0.5f;
  for (int64_t c = 0; c < outputs; ++c) a.slope.push_back(0.1f * static_cast<float>(c % 5));
  return a;
}

double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

// Central differences of `f` at `values` for the entries `picked`, against `analytic`.
template <typename F>
double finite_difference_error(std::vector<float>& values, const std::vector<int64_t>& picked,
                               const std::vector<float>& analytic, float step, F f) {
  std::vector<double> numeric, expected;
  for (int64_t i : picked) {
    const float saved = values[i];
    values[i] = saved + step;
    const double up = f();
    values[i] = saved - step;
    const double down = f();
    values[i] = saved;
    numeric.push_back((up - down) / (2.0 * step));
    expected.push_back(analytic[i]);
  }
  return relative_error(numeric, expected);
}

std::vector<int64_t> every_kth(int64_t n, int64_t k) {
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < n; i += k) picked.push_back(i);
  return picked;
}

// The loss make_loss(data, pool) builds over each of `data` (memory and file caches) gives the
// same loss and gradient bytes with 1, 2 and 3 threads.
template <typename Data, typename MakeLoss>
void check_same_bytes(std::initializer_list<Data*> data, int64_t weight_count, const float* weights,
                      const float* bias, const std::vector<int64_t>& batch,
                      const MakeLoss& make_loss) {
  std::vector<std::vector<float>> gradients;
  std::vector<double> losses;
  for (int threads : {1, 2, 3})
    for (Data* d : data) {
      ThreadPool pool(threads);
      const auto loss = make_loss(*d, pool);
      std::vector<float> g(static_cast<size_t>(weight_count));
      losses.push_back(loss->evaluate(weights, bias, batch, g.data(), nullptr, nullptr));
      gradients.push_back(g);
    }
  for (size_t i = 1; i < losses.size(); ++i) {
    CHECK(losses[i] == losses[0]);
    CHECK(gradients[i] == gradients[0]);
  }
}

}  // namespace

PATH_TEST_CASE("each layer kind's lowering reproduces the runtime's product") {
  SECTION("grouped, strided, padded Conv") {
    // Its input planes (4 x 7 x 6 per sample) are smaller than its columns (2 groups x 18
    // rows x 15 positions), so they are what gets cached.
    CHECK(check_lowering(one_layer("Conv", random_tensor({6, 2, 3, 3}, 1), random_tensor({6}, 2),
                                   {{"group", Attribute::of_int(2)},
                                    {"strides", Attribute::of_ints({2, 1})},
                                    {"pads", Attribute::of_ints({1, 0, 0, 1})}}),
                         random_tensor({3, 4, 7, 6}, 3)));
  }
  SECTION("depthwise Conv with a channel multiplier, dilated") {
    check_lowering(one_layer("Conv", random_tensor({8, 1, 3, 3}, 4), std::nullopt,
                             {{"group", Attribute::of_int(4)},
                              {"dilations", Attribute::of_ints({2, 2})},
                              {"pads", Attribute::of_ints({2, 2, 2, 2})}}),
                   random_tensor({2, 4, 6, 6}, 5));
  }
  SECTION("1-D Conv") {
    check_lowering(one_layer("Conv", random_tensor({5, 3, 4}, 6), random_tensor({5}, 7), {}),
                   random_tensor({2, 3, 9}, 8));
  }
  SECTION("grouped, strided ConvTranspose with output padding") {
    check_lowering(
        one_layer("ConvTranspose", random_tensor({4, 3, 3, 2}, 9), random_tensor({6}, 10),
                  {{"group", Attribute::of_int(2)},
                   {"strides", Attribute::of_ints({2, 3})},
                   {"pads", Attribute::of_ints({1, 0, 0, 1})},
                   {"output_padding", Attribute::of_ints({1, 1})}}),
        random_tensor({2, 4, 4, 3}, 11));
  }
  SECTION("Gemm with transA, alpha, beta and a broadcast C") {
    check_lowering(one_layer("Gemm", random_tensor({7, 5}, 12), random_tensor({1, 7}, 13),
                             {{"transA", Attribute::of_int(1)},
                              {"transB", Attribute::of_int(1)},
                              {"alpha", Attribute::of_float(0.5f)},
                              {"beta", Attribute::of_float(2.0f)}}),
                   random_tensor({5, 3}, 14));
    check_lowering(one_layer("Gemm", random_tensor({5, 7}, 15), std::nullopt, {}),
                   random_tensor({4, 5}, 16));
  }
  SECTION("MatMul on a 3-D input") {
    check_lowering(one_layer("MatMul", random_tensor({6, 4}, 17), std::nullopt, {}),
                   random_tensor({2, 3, 6}, 18));
  }
}

PATH_TEST_CASE("the activation after a layer becomes the target's") {
  Model clip = one_layer("Conv", random_tensor({4, 2, 1, 1}, 19), std::nullopt, {}, "Clip");
  clip.graph.initializers["lo"] = random_tensor({}, 20, 0.0f, 0.0f);
  clip.graph.initializers["hi"] = random_tensor({}, 21, 6.0f, 6.0f);
  clip.graph.nodes[1].inputs = {"y", "lo", "hi"};
  LayerSearch search = find_adaround_layers(clip, {"w"});
  REQUIRE(search.layers.size() == 1);
  CHECK(search.layers[0]->activation().kind == ActivationKind::kClip);
  CHECK(search.layers[0]->activation().upper == 6.0f);
  CHECK(search.layers[0]->target() == "z");

  Model relu_and_output =
      one_layer("Conv", random_tensor({4, 2, 1, 1}, 22), std::nullopt, {}, "Relu");
  relu_and_output.graph.outputs.push_back({"y", DType::kFloat32, 1, std::nullopt});
  search = find_adaround_layers(relu_and_output, {"w"});
  CHECK(search.layers[0]->activation().kind == ActivationKind::kIdentity);
  CHECK(search.layers[0]->target() == "y");
}

PATH_TEST_CASE("the fused loss gradient matches finite differences") {
  const ActivationKind kinds[] = {ActivationKind::kIdentity, ActivationKind::kRelu,
                                  ActivationKind::kClip,     ActivationKind::kPRelu,
                                  ActivationKind::kTanh,     ActivationKind::kSigmoid};
  // Few rows per group take the direct loops, many take sgemm.
  const LayerShape shapes[] = {{3, 2, 5, 7}, {1, 9, 6, 4}};
  ThreadPool pool(2);
  for (const LayerShape& shape : shapes) {
    LayerData data(shape, 12, 23);
    for (ActivationKind kind : kinds) {
      INFO("activation " << activation_name(kind) << ", rows " << shape.rows);
      MinibatchLoss loss(shape, activation_of(kind, shape.outputs()), data.inputs, data.targets, 12,
                         pool);
      const std::vector<int64_t> batch = {0, 2, 3, 5, 7, 8, 9, 11, 1, 4};
      const Tensor w0 = random_tensor({shape.weights()}, 24, -0.5f, 0.5f);
      const Tensor b0 = random_tensor({shape.outputs()}, 25, -0.2f, 0.2f);
      std::vector<float> w(w0.data<float>(), w0.data<float>() + w0.size());
      std::vector<float> b(b0.data<float>(), b0.data<float>() + b0.size());
      std::vector<float> gw(w.size()), gb(b.size());
      loss.evaluate(w.data(), b.data(), batch, gw.data(), gb.data(), nullptr);
      auto value = [&] {
        return loss.evaluate(w.data(), b.data(), batch, nullptr, nullptr, nullptr);
      };
      // Steps small enough that few products cross a kink of Relu, Clip or PRelu.
      CHECK(finite_difference_error(w, every_kth(shape.weights(), 3), gw, 3e-4f, value) < 2e-2);
      CHECK(finite_difference_error(b, every_kth(shape.outputs(), 1), gb, 3e-4f, value) < 2e-2);
    }
  }
}

// A 4-bit grid of step 0.1 around 0 for every weight of `w`.
static WeightGrid four_bit_grid(const Tensor& w) {
  WeightGrid grid;
  grid.weights.assign(w.data<float>(), w.data<float>() + w.size());
  grid.scale.assign(grid.weights.size(), 0.1f);
  grid.offset.assign(grid.weights.size(), -8.0f);
  grid.quant_max = 15.0f;
  return grid;
}

PATH_TEST_CASE("soft rounding's gradient, rounding term included, matches finite differences") {
  const LayerShape shape{1, 8, 6, 5};
  LayerData data(shape, 8, 26);
  ThreadPool pool(1);
  MinibatchLoss loss(shape, activation_of(ActivationKind::kTanh, 8), data.inputs, data.targets, 8,
                     pool);
  const WeightGrid grid = four_bit_grid(random_tensor({shape.weights()}, 27, -0.6f, 0.6f));
  AdaRoundOptions options;
  options.iterations = 100;
  options.regularization = 0.05;
  SoftRounding rounding(grid, options, pool);
  const std::vector<float> bias(8, 0.05f);
  const std::vector<int64_t> batch = {0, 1, 2, 3, 4, 5, 6, 7};
  // Past the warm start (beta 14.3 at iteration 50) and in the warm start (no rounding term).
  for (int64_t iteration : {int64_t{50}, int64_t{5}}) {
    std::vector<float> weights(grid.weights.size()), gw(weights.size()), gv(weights.size()),
        unused(weights.size());
    rounding.forward(weights.data());
    loss.evaluate(weights.data(), bias.data(), batch, gw.data(), nullptr, nullptr);
    rounding.backward(iteration, gw.data(), gv.data());
    auto total = [&] {
      rounding.forward(weights.data());
      const double value =
          loss.evaluate(weights.data(), bias.data(), batch, nullptr, nullptr, nullptr);
      return value + rounding.backward(iteration, gw.data(), unused.data());
    };
    CHECK(finite_difference_error(rounding.values(), every_kth(shape.weights(), 2), gv, 1e-2f,
                                  total) < 2e-2);
  }
  CHECK(rounding.beta(5) == 0.0);
  CHECK(rounding.beta(20) == Approx(20.0));
  CHECK(rounding.beta(99) == Approx(2.0).epsilon(0.01));
}

PATH_TEST_CASE("the rounding term of blocks whose every h is clamped is zero, as is its gradient") {
  // Two full blocks of kSumLanes (the first clamped throughout, the second half clamped) and a
  // partial one; V = +-12 puts sigmoid(V) (zeta - gamma) + gamma outside [0, 1].
  const int64_t n = 2 * kSumLanes + 7;
  WeightGrid grid;
  for (int64_t i = 0; i < n; ++i) grid.weights.push_back(0.013f * static_cast<float>(i) - 0.2f);
  grid.scale.assign(n, 0.1f);
  grid.offset.assign(n, -8.0f);
  grid.quant_max = 15.0f;
  AdaRoundOptions options;
  options.iterations = 100;
  ThreadPool pool(1);
  SoftRounding rounding(grid, options, pool);
  auto clamped = [](int64_t i) { return i < kSumLanes || (i < 2 * kSumLanes && i % 2 == 0); };
  for (int64_t i = 0; i < n; ++i)
    if (clamped(i)) rounding.values()[i] = i % 3 == 0 ? 12.0f : -12.0f;
  std::vector<float> weights(n), grad_weights(n, 1.0f), grad_values(n);
  rounding.forward(weights.data());
  const int64_t iteration = 60;
  const double beta = rounding.beta(iteration);
  const double term = rounding.backward(iteration, grad_weights.data(), grad_values.data());
  const double zeta = options.zeta, gamma = options.gamma;
  double expected = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    INFO("element " << i);
    const double sigmoid = 1.0 / (1.0 + std::exp(-static_cast<double>(rounding.values()[i])));
    const double h = std::clamp(sigmoid * (zeta - gamma) + gamma, 0.0, 1.0);
    expected += 1.0 - std::pow(std::fabs(2.0 * h - 1.0), beta);
    if (clamped(i))
      CHECK(grad_values[i] == 0.0f);
    else
      CHECK(grad_values[i] != 0.0f);
  }
  CHECK(term == Approx(options.regularization * expected).epsilon(1e-5));
  for (float y = 1.0f; y <= 19.0f; y += 0.25f) CHECK(fast::pow(1.0f, y) == 1.0f);
  REQUIRE(kLiveBlock == kSumLanes);
  const uint8_t* live = rounding.live_blocks();
  CHECK(live[0] == 0);
  CHECK(live[1] != 0);
  CHECK(live[2] != 0);
}

// The optimizer's loop (optimize_layer) for `iterations` steps, dropping settled weights or
// not; every iteration's soft weights and live blocks, then the final weights.
struct SoftRoundingRun {
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<uint8_t>> live;
  std::vector<float> final_weights;
  int64_t values_left = 0;
};

SoftRoundingRun run_soft_rounding(const WeightGrid& grid, const AdaRoundOptions& options,
                                  ReconstructionLoss& loss, bool settle, ThreadPool& pool) {
  SoftRounding rounding(grid, options, pool);
  Adam adam(grid.size(), options.learning_rate);
  const std::vector<float> bias(8, 0.05f);
  std::vector<float> weights(grid.weights.size()), gw(weights.size()), gv(weights.size());
  SampleDraw draw(loss.samples(), 4, 11);
  SoftRoundingRun run;
  rounding.forward(weights.data());
  for (int64_t it = 0; it < options.iterations; ++it) {
    loss.evaluate(weights.data(), bias.data(), draw.next(), gw.data(), nullptr,
                  rounding.live_blocks());
    adam.begin_step();
    float* values = rounding.values().data();
    rounding.step(it, gw.data(), gv.data(), weights.data(),
                  [&](int64_t begin, int64_t end) { adam.update(values, gv.data(), begin, end); });
    if (settle)
      if (const auto kept = rounding.settle()) adam.keep(*kept);
    run.weights.push_back(weights);
    const uint8_t* live = rounding.live_blocks();
    run.live.emplace_back(live, live + live_block_count(grid.size()));
  }
  run.final_weights.resize(weights.size());
  rounding.final_weights(run.final_weights.data());
  run.values_left = static_cast<int64_t>(rounding.values().size());
  return run;
}

PATH_TEST_CASE(
    "dropping settled weights from the step changes no soft weight, live block or result") {
  // 8 x 300 weights (three element chunks) whose h clamp over the run: a strong rounding term
  // and a large learning rate.
  const LayerShape shape{1, 8, 300, 3};
  LayerData data(shape, 12, 41);
  ThreadPool pool(2);
  MinibatchLoss loss(shape, activation_of(ActivationKind::kRelu, 8), data.inputs, data.targets, 4,
                     pool);
  const WeightGrid grid = four_bit_grid(random_tensor({shape.weights()}, 42, -0.6f, 0.6f));
  AdaRoundOptions options;
  options.iterations = 300;
  options.regularization = 0.5;
  options.learning_rate = 0.05;
  const SoftRoundingRun full = run_soft_rounding(grid, options, loss, false, pool);
  const SoftRoundingRun settled = run_soft_rounding(grid, options, loss, true, pool);
  // Weights did settle and were dropped, and some kept training past the first drop.
  CHECK(full.values_left == shape.weights());
  CHECK(settled.values_left < shape.weights() / 2);
  REQUIRE(settled.weights.size() == full.weights.size());
  int64_t changed_late = 0;  // weights that still moved in the last third
  for (size_t it = 0; it < full.weights.size(); ++it) {
    INFO("iteration " << it);
    REQUIRE(std::memcmp(settled.weights[it].data(), full.weights[it].data(),
                        full.weights[it].size() * sizeof(float)) == 0);
    REQUIRE(settled.live[it] == full.live[it]);
    if (it > 200)
      for (size_t k = 0; k < full.weights[it].size(); ++k)
        changed_late += full.weights[it][k] != full.weights[it - 1][k];
  }
  CHECK(changed_late > 0);
  CHECK(std::memcmp(settled.final_weights.data(), full.final_weights.data(),
                    full.final_weights.size() * sizeof(float)) == 0);
}

PATH_TEST_CASE("the second-moment loss equals the minibatch loss over every sample") {
  ThreadPool pool(2);
  for (bool with_bias : {false, true}) {
    const LayerShape shape{2, 9, 7, 6};
    const int64_t samples = 10;
    LayerData data(shape, samples, 28);
    SecondMoments moments(shape, with_bias);
    std::vector<float> x(shape.input_floats()), t(shape.output_floats());
    const std::vector<float> float_bias(shape.outputs(), 0.3f);
    for (int64_t i = 0; i < samples; ++i) {
      const float* xi = data.inputs.read(i, x.data());
      const float* ti = data.targets.read(i, t.data());
      std::vector<float> residual(ti, ti + shape.output_floats());
      for (int64_t m = 0; m < shape.outputs(); ++m)
        for (int64_t p = 0; p < shape.positions; ++p)
          residual[m * shape.positions + p] -= float_bias[m];
      moments.add(xi, residual.data(), shape.positions, pool);
    }
    const Tensor wf = random_tensor({shape.weights()}, 29, -0.5f, 0.5f);
    const std::vector<float> float_weights(wf.data<float>(), wf.data<float>() + wf.size());
    SecondMomentLoss shortcut(moments, float_weights, float_bias, pool);
    MinibatchLoss explicit_loss(shape, Activation{}, data.inputs, data.targets, samples, pool);

    const Tensor w = random_tensor({shape.weights()}, 30, -0.5f, 0.5f);
    std::vector<float> bias(shape.outputs(), with_bias ? 0.1f : 0.3f);
    std::vector<int64_t> all(samples);
    std::iota(all.begin(), all.end(), 0);
    std::vector<float> g1(shape.weights()), g2(shape.weights()), b1(shape.outputs()),
        b2(shape.outputs());
    const double l1 = shortcut.evaluate(w.data<float>(), bias.data(), {}, g1.data(),
                                        with_bias ? b1.data() : nullptr, nullptr);
    const double l2 =
        explicit_loss.evaluate(w.data<float>(), bias.data(), all, g2.data(), b2.data(), nullptr);
    CHECK(l1 == Approx(l2).epsilon(1e-4));
    std::vector<double> d1(g1.begin(), g1.end()), d2(g2.begin(), g2.end());
    CHECK(relative_error(d1, d2) < 1e-4);
    if (with_bias) {
      std::vector<double> c1(b1.begin(), b1.end()), c2(b2.begin(), b2.end());
      CHECK(relative_error(c1, c2) < 1e-4);
    }
  }
}

PATH_TEST_CASE("losses, gradients and draws are the same bytes for any thread count or cache") {
  const LayerShape shape{4, 3, 6, 9};
  LayerData in_memory(shape, 40, 31);
  LayerData on_file(shape, 40, 31, 0);
  REQUIRE(in_memory.inputs.in_memory());
  REQUIRE_FALSE(on_file.inputs.in_memory());
  const Tensor w = random_tensor({shape.weights()}, 32);
  const std::vector<float> bias(shape.outputs(), 0.0f);
  SampleDraw draw(40, 32, 7);
  const std::span<const int64_t> drawn = draw.next();
  const std::vector<int64_t> batch(drawn.begin(), drawn.end());
  CHECK(std::set<int64_t>(batch.begin(), batch.end()).size() == 32);
  SampleDraw again(40, 32, 7);
  const std::span<const int64_t> redrawn = again.next();
  CHECK(std::equal(batch.begin(), batch.end(), redrawn.begin(), redrawn.end()));

  check_same_bytes({&in_memory, &on_file}, shape.weights(), w.data<float>(), bias.data(), batch,
                   [&](LayerData& data, ThreadPool& pool) {
                     return std::make_unique<MinibatchLoss>(
                         shape, activation_of(ActivationKind::kRelu, shape.outputs()), data.inputs,
                         data.targets, 32, pool);
                   });
}

// A Conv's cached input planes and random targets, as AdaRound caches them.
struct ConvData {
  std::unique_ptr<LinearLayer> layer;
  MemoryBudget budget;
  SampleCache planes;
  SampleCache targets;
  ConvData(const Model& model, const Tensor& x, int64_t budget_bytes = int64_t{1} << 30)
      : layer(std::move(find_adaround_layers(model, {"w"}).layers.at(0))),
        budget(budget_bytes),
        planes(x.dim(0), bound(*layer, x)->floats(), budget, "planes"),
        targets(x.dim(0), layer->shape().output_floats(), budget, "targets") {
    const Tensor t = random_tensor({x.dim(0), layer->shape().output_floats()}, 40, -0.5f, 1.5f);
    std::vector<float> stored(static_cast<size_t>(planes.sample_floats()));
    for (int64_t n = 0; n < x.dim(0); ++n) {
      layer->compact_input()->store(x, n, stored.data());
      planes.write(n, stored.data());
      targets.write(n, t.data<float>() + n * layer->shape().output_floats());
    }
  }
  static const CompactInput* bound(LinearLayer& layer, const Tensor& x) {
    layer.bind(x.shape());
    REQUIRE(layer.compact_input() != nullptr);
    return layer.compact_input();
  }
  const WindowGeometry& window() const { return *layer->compact_input()->window(); }
};

// The same samples as DirectConvLoss (or WinogradConvLoss) caches them.
template <typename Layout>
struct LaidOutData {
  Layout layout;
  MemoryBudget budget;
  SampleCache inputs;
  SampleCache targets;
  LaidOutData(const ConvData& data, int64_t budget_bytes = int64_t{1} << 30)
      : layout(data.layer->shape(), data.window()),
        budget(budget_bytes),
        inputs(data.planes.samples(), layout.input_floats(), budget, "padded"),
        targets(data.targets.samples(), data.targets.sample_floats(), budget, "transposed") {
    std::vector<float> x(data.planes.sample_floats()), t(data.targets.sample_floats()),
        laid_out(std::max(inputs.sample_floats(), targets.sample_floats()));
    for (int64_t n = 0; n < data.planes.samples(); ++n) {
      layout.lay_out_input(data.planes.read(n, x.data()), laid_out.data());
      inputs.write(n, laid_out.data());
      layout.lay_out_target(data.targets.read(n, t.data()), laid_out.data());
      targets.write(n, laid_out.data());
    }
  }
};
using DirectData = LaidOutData<DirectConvLayout>;
using WinogradData = LaidOutData<WinogradConvLayout>;
using DepthwiseData = LaidOutData<DepthwiseConvLayout>;

namespace {

// A [rows][cols] matrix as [cols][rows].
std::vector<float> transposed(const float* m, int64_t rows, int64_t cols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[static_cast<size_t>(c * rows + r)] = m[r * cols + c];
  return out;
}

// `by_depth` (weights as [depth][outputs]) and `reference` (weights in view order, unless it
// takes them by depth too) give the same loss and gradients, to 1e-5, at `w` (view order) and
// `b` over `batch`; `by_depth`'s loss without gradients is the same bytes as with them.
void check_same_loss(ReconstructionLoss& by_depth, ReconstructionLoss& reference,
                     const LayerShape& shape, const Tensor& w, const Tensor& b,
                     const std::vector<int64_t>& batch) {
  REQUIRE(by_depth.weights_by_depth());
  const std::vector<float> w_by_depth = transposed(w.data<float>(), shape.outputs(), shape.depth);
  const bool reference_by_depth = reference.weights_by_depth();
  std::vector<float> g1(shape.weights()), g2(g1.size()), b1(shape.outputs()), b2(b1.size());
  const double l1 =
      by_depth.evaluate(w_by_depth.data(), b.data<float>(), batch, g1.data(), b1.data(), nullptr);
  const double l2 = reference.evaluate(reference_by_depth ? w_by_depth.data() : w.data<float>(),
                                       b.data<float>(), batch, g2.data(), b2.data(), nullptr);
  CHECK(l1 == Approx(l2).epsilon(1e-5));
  CHECK(by_depth.evaluate(w_by_depth.data(), b.data<float>(), batch, nullptr, nullptr, nullptr) ==
        l1);
  const std::vector<float> g1_as_reference =
      reference_by_depth ? g1 : transposed(g1.data(), shape.depth, shape.outputs());
  CHECK(relative_error({g1_as_reference.begin(), g1_as_reference.end()}, {g2.begin(), g2.end()}) <
        1e-5);
  CHECK(relative_error({b1.begin(), b1.end()}, {b2.begin(), b2.end()}) < 1e-5);
}

}  // namespace

// A Conv loss with a layout of its own (`Data` caches the samples as it reads them) gives the
// same bytes for 1, 2 and 3 threads and for in-memory and file-backed caches.
template <typename Loss, typename Data>
void check_laid_out_loss_same_bytes(const Model& model, const Tensor& x) {
  const ConvData planes(model, x);
  Data in_memory(planes), on_file(planes, 0);
  REQUIRE_FALSE(on_file.inputs.in_memory());
  const LayerShape& shape = planes.layer->shape();
  const Tensor w = random_tensor({shape.weights()}, 53);
  const std::vector<float> bias(shape.outputs(), 0.1f);
  SampleDraw draw(x.dim(0), 32, 9);
  const std::span<const int64_t> drawn = draw.next();
  const std::vector<int64_t> batch(drawn.begin(), drawn.end());
  check_same_bytes({&in_memory, &on_file}, shape.weights(), w.data<float>(), bias.data(), batch,
                   [&](Data& data, ThreadPool& pool) {
                     return std::make_unique<Loss>(
                         data.layout, activation_of(ActivationKind::kRelu, shape.outputs()),
                         data.inputs, data.targets, 32, pool);
                   });
}

PATH_TEST_CASE("the direct Conv loss equals the im2col minibatch loss") {
  struct Case {
    const char* name;
    Shape weight;
    std::map<std::string, Attribute> attributes;
    Shape input;
  };
  const Case cases[] = {
      {"3x3, padded", {16, 3, 3, 3}, {{"pads", Attribute::of_ints({1, 1, 1, 1})}}, {9, 3, 9, 11}},
      // 16 channels in rows of an even count: the forward takes positions in pairs.
      {"3x3, padded, even rows",
       {16, 2, 3, 3},
       {{"pads", Attribute::of_ints({1, 1, 1, 1})}},
       {9, 2, 5, 14}},
      {"strided, dilated, uneven pads",
       {32, 4, 3, 3},
       {{"strides", Attribute::of_ints({2, 2})},
        {"dilations", Attribute::of_ints({1, 2})},
        {"pads", Attribute::of_ints({1, 0, 1, 2})}},
       {10, 4, 13, 17}},
      {"2x3 kernel, column stride, rows of several tiles",
       {64, 2, 2, 3},
       {{"strides", Attribute::of_ints({1, 2})}},
       {9, 2, 5, 40}},
      {"1-D, strided",
       {48, 3, 5},
       {{"strides", Attribute::of_ints({3})}, {"pads", Attribute::of_ints({2, 2})}},
       {9, 3, 50}},
  };
  const ActivationKind kinds[] = {ActivationKind::kIdentity, ActivationKind::kRelu,
                                  ActivationKind::kClip, ActivationKind::kPRelu};
  ThreadPool pool(2);
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.input, 41);
    ConvData data(one_layer("Conv", random_tensor(c.weight, 42), random_tensor({c.weight[0]}, 43),
                            c.attributes),
                  x);
    DirectData direct_data(data);
    const LayerShape& shape = data.layer->shape();
    const std::vector<int64_t> batch = {0, 2, 3, 4, 5, 6, 7, 8, 1};  // 2 tasks
    const Tensor w = random_tensor({shape.weights()}, 44, -0.5f, 0.5f);
    const Tensor b = random_tensor({shape.outputs()}, 45, -0.2f, 0.2f);
    for (ActivationKind kind : kinds) {
      INFO(c.name << ", activation " << activation_name(kind));
      const Activation activation = activation_of(kind, shape.outputs());
      REQUIRE(DirectConvLayout::covers(shape, data.window(), activation));
      DirectConvLoss direct(direct_data.layout, activation, direct_data.inputs, direct_data.targets,
                            9, pool);
      MinibatchLoss lowered(shape, activation, data.planes, data.targets, 9, pool,
                            data.layer->compact_input());
      check_same_loss(direct, lowered, shape, w, b, batch);
    }
  }
  SECTION("what it does not cover") {
    const Tensor x = random_tensor({2, 4, 6, 6}, 46);
    ConvData grouped(one_layer("Conv", random_tensor({32, 2, 3, 3}, 47), std::nullopt,
                               {{"group", Attribute::of_int(2)}}),
                     x);
    CHECK_FALSE(DirectConvLayout::covers(grouped.layer->shape(), grouped.window(), Activation{}));
    ConvData narrow(one_layer("Conv", random_tensor({8, 4, 3, 3}, 48), std::nullopt, {}), x);
    CHECK_FALSE(DirectConvLayout::covers(narrow.layer->shape(), narrow.window(), Activation{}));
    ConvData wide(one_layer("Conv", random_tensor({16, 4, 3, 3}, 49), std::nullopt, {}), x);
    CHECK(DirectConvLayout::covers(wide.layer->shape(), wide.window(), Activation{}));
    CHECK_FALSE(DirectConvLayout::covers(wide.layer->shape(), wide.window(),
                                         activation_of(ActivationKind::kTanh, 16)));
  }
}

PATH_TEST_CASE("the direct Conv loss leaves out just the gradient rows no live block needs") {
  const Tensor x = random_tensor({12, 3, 7, 9}, 54);
  const Model model = one_layer("Conv", random_tensor({32, 3, 3, 3}, 55), random_tensor({32}, 56),
                                {{"pads", Attribute::of_ints({1, 1, 1, 1})}});
  const ConvData planes(model, x);
  DirectData data(planes);
  const LayerShape& shape = planes.layer->shape();
  const Tensor w = random_tensor({shape.weights()}, 57);
  const std::vector<float> bias(shape.outputs(), 0.1f);
  const std::vector<int64_t> batch = {0, 3, 4, 5, 7, 8, 9, 10, 11};
  ThreadPool pool(2);
  DirectConvLoss loss(data.layout, activation_of(ActivationKind::kRelu, shape.outputs()),
                      data.inputs, data.targets, 9, pool);
  // [depth][32 outputs]: two blocks of kLiveBlock per depth index, which one kernel block
  // covers; a depth index is left out only when both are dead.
  REQUIRE(shape.outputs() == 2 * kLiveBlock);
  std::vector<uint8_t> live(static_cast<size_t>(live_block_count(shape.weights())));
  for (size_t i = 0; i < live.size(); ++i) live[i] = (i % 6 == 1 || i % 6 == 4) ? 1 : 0;
  std::vector<float> all(shape.weights()), some(all.size(), -1.0f);
  const double l1 =
      loss.evaluate(w.data<float>(), bias.data(), batch, all.data(), nullptr, nullptr);
  const double l2 =
      loss.evaluate(w.data<float>(), bias.data(), batch, some.data(), nullptr, live.data());
  CHECK(l1 == l2);
  int64_t left_out = 0;
  for (int64_t k = 0; k < shape.depth; ++k) {
    const bool needed = live[static_cast<size_t>(2 * k)] || live[static_cast<size_t>(2 * k + 1)];
    left_out += needed ? 0 : 1;
    for (int64_t o = 0; o < shape.outputs(); ++o) {
      const size_t i = static_cast<size_t>(k * shape.outputs() + o);
      INFO("depth " << k << ", output " << o);
      CHECK(some[i] == (needed ? all[i] : 0.0f));
    }
  }
  CHECK(left_out == shape.depth / 3);
}

PATH_TEST_CASE("the direct Conv loss is the same bytes for any thread count or cache") {
  check_laid_out_loss_same_bytes<DirectConvLoss, DirectData>(
      one_layer("Conv", random_tensor({32, 3, 3, 3}, 51), random_tensor({32}, 52),
                {{"pads", Attribute::of_ints({1, 1, 1, 1})}}),
      random_tensor({40, 3, 8, 8}, 50));
}

PATH_TEST_CASE("the Winograd Conv loss equals the direct Conv loss") {
  struct Case {
    const char* name;
    Shape weight;
    std::map<std::string, Attribute> attributes;
    Shape input;
  };
  const Case cases[] = {
      {"16 channels, padded",
       {16, 16, 3, 3},
       {{"pads", Attribute::of_ints({1, 1, 1, 1})}},
       {9, 16, 6, 10}},
      {"32 outputs, uneven pads",
       {32, 16, 3, 3},
       {{"pads", Attribute::of_ints({0, 2, 2, 0})}},
       {9, 16, 8, 6}},
      {"64 outputs, 32 channels, no pads, groups of several sizes",
       {64, 32, 3, 3},
       {},
       {9, 32, 16, 12}},
  };
  const ActivationKind kinds[] = {ActivationKind::kIdentity, ActivationKind::kRelu,
                                  ActivationKind::kClip, ActivationKind::kPRelu};
  ThreadPool pool(2);
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.input, 61);
    ConvData data(one_layer("Conv", random_tensor(c.weight, 62), random_tensor({c.weight[0]}, 63),
                            c.attributes),
                  x);
    DirectData direct_data(data);
    WinogradData winograd_data(data);
    const LayerShape& shape = data.layer->shape();
    const std::vector<int64_t> batch = {0, 2, 3, 4, 5, 6, 7, 8, 1};  // 2 tasks
    const Tensor w = random_tensor({shape.weights()}, 64, -0.5f, 0.5f);
    const Tensor b = random_tensor({shape.outputs()}, 65, -0.2f, 0.2f);
    for (ActivationKind kind : kinds) {
      INFO(c.name << ", activation " << activation_name(kind));
      const Activation activation = activation_of(kind, shape.outputs());
      REQUIRE(WinogradConvLayout::covers(shape, data.window(), activation));
      WinogradConvLoss winograd(winograd_data.layout, activation, winograd_data.inputs,
                                winograd_data.targets, 9, pool);
      DirectConvLoss direct(direct_data.layout, activation, direct_data.inputs, direct_data.targets,
                            9, pool);
      check_same_loss(winograd, direct, shape, w, b, batch);
      CHECK(winograd.flops(9) * 9 == Approx(direct.flops(9) * 4));
    }
  }
  SECTION("what it does not cover") {
    const Tensor x = random_tensor({2, 16, 6, 6}, 66);
    const auto covered = [&](const Shape& weight, std::map<std::string, Attribute> attributes,
                             const Tensor& input) {
      ConvData data(one_layer("Conv", random_tensor(weight, 67), std::nullopt, attributes), input);
      return WinogradConvLayout::covers(data.layer->shape(), data.window(), Activation{});
    };
    CHECK(covered({16, 16, 3, 3}, {{"pads", Attribute::of_ints({1, 1, 1, 1})}}, x));
    CHECK_FALSE(covered({16, 16, 3, 3}, {}, random_tensor({2, 16, 7, 6}, 68)));  // 5 rows out
    CHECK_FALSE(covered(
        {16, 16, 3, 3},
        {{"strides", Attribute::of_ints({2, 2})}, {"pads", Attribute::of_ints({1, 1, 1, 1})}}, x));
    CHECK_FALSE(covered({16, 16, 3, 3}, {{"dilations", Attribute::of_ints({2, 2})}},
                        random_tensor({2, 16, 12, 12}, 74)));
    CHECK_FALSE(covered({16, 16, 5, 5}, {{"pads", Attribute::of_ints({2, 2, 2, 2})}}, x));
    CHECK_FALSE(covered({16, 8, 3, 3}, {}, random_tensor({2, 8, 6, 6}, 69)));
    CHECK_FALSE(covered({32, 8, 3, 3}, {{"group", Attribute::of_int(2)}}, x));
  }
}

PATH_TEST_CASE("the Winograd Conv loss is the same bytes for any thread count or cache") {
  check_laid_out_loss_same_bytes<WinogradConvLoss, WinogradData>(
      one_layer("Conv", random_tensor({32, 16, 3, 3}, 71), random_tensor({32}, 72),
                {{"pads", Attribute::of_ints({1, 1, 1, 1})}}),
      random_tensor({40, 16, 6, 6}, 70));
}

PATH_TEST_CASE("the depthwise Conv loss equals the im2col minibatch loss") {
  struct Case {
    const char* name;
    Shape weight;
    std::map<std::string, Attribute> attributes;
    Shape input;
  };
  const Case cases[] = {
      {"3x3, padded", {16, 1, 3, 3}, {{"pads", Attribute::of_ints({1, 1, 1, 1})}}, {9, 16, 6, 19}},
      {"3x3, strided, uneven pads",
       {32, 1, 3, 3},
       {{"strides", Attribute::of_ints({2, 2})}, {"pads", Attribute::of_ints({1, 0, 1, 2})}},
       {9, 32, 9, 12}},
      {"5x5, dilated (taps not fixed at compile time)",
       {48, 1, 5, 5},
       {{"dilations", Attribute::of_ints({1, 2})}, {"pads", Attribute::of_ints({2, 4, 2, 4})}},
       {9, 48, 7, 8}},
      {"1-D", {16, 1, 3}, {{"pads", Attribute::of_ints({1, 1})}}, {9, 16, 30}},
  };
  const ActivationKind kinds[] = {ActivationKind::kIdentity, ActivationKind::kRelu,
                                  ActivationKind::kClip, ActivationKind::kPRelu};
  ThreadPool pool(2);
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.input, 81);
    ConvData data(one_layer("Conv", random_tensor(c.weight, 82), random_tensor({c.weight[0]}, 83),
                            [&] {
                              auto attributes = c.attributes;
                              attributes["group"] = Attribute::of_int(c.weight[0]);
                              return attributes;
                            }()),
                  x);
    DepthwiseData depthwise_data(data);
    const LayerShape& shape = data.layer->shape();
    const std::vector<int64_t> batch = {0, 2, 3, 4, 5, 6, 7, 8, 1};  // 2 tasks
    const Tensor w = random_tensor({shape.weights()}, 84, -0.5f, 0.5f);
    const Tensor b = random_tensor({shape.outputs()}, 85, -0.2f, 0.2f);
    for (ActivationKind kind : kinds) {
      INFO(c.name << ", activation " << activation_name(kind));
      const Activation activation = activation_of(kind, shape.outputs());
      REQUIRE(DepthwiseConvLayout::covers(shape, data.window(), activation));
      DepthwiseConvLoss depthwise(depthwise_data.layout, activation, depthwise_data.inputs,
                                  depthwise_data.targets, 9, pool);
      MinibatchLoss lowered(shape, activation, data.planes, data.targets, 9, pool,
                            data.layer->compact_input());
      check_same_loss(depthwise, lowered, shape, w, b, batch);
    }
  }
  SECTION("what it does not cover") {
    const Tensor x = random_tensor({2, 16, 6, 6}, 86);
    const auto covered = [&](const Shape& weight, int64_t group, const Tensor& input) {
      ConvData data(one_layer("Conv", random_tensor(weight, 87), std::nullopt,
                              {{"group", Attribute::of_int(group)},
                               {"pads", Attribute::of_ints({1, 1, 1, 1})}}),
                    input);
      return DepthwiseConvLayout::covers(data.layer->shape(), data.window(), Activation{});
    };
    CHECK(covered({16, 1, 3, 3}, 16, x));
    CHECK_FALSE(covered({8, 1, 3, 3}, 8, random_tensor({2, 8, 6, 6}, 88)));  // 8 channels
    CHECK_FALSE(covered({32, 1, 3, 3}, 16, x));                              // 2 per group
    CHECK_FALSE(covered({16, 2, 3, 3}, 8, x));                               // 2 inputs per group
    CHECK_FALSE(covered({16, 16, 3, 3}, 1, x));                              // not grouped
  }
}

PATH_TEST_CASE("the depthwise Conv loss is the same bytes for any thread count or cache") {
  check_laid_out_loss_same_bytes<DepthwiseConvLoss, DepthwiseData>(
      one_layer("Conv", random_tensor({32, 1, 3, 3}, 91), random_tensor({32}, 92),
                {{"pads", Attribute::of_ints({1, 1, 1, 1})}, {"group", Attribute::of_int(32)}}),
      random_tensor({40, 32, 7, 7}, 90));
}

PATH_TEST_CASE("the vectorizable exp, log and pow agree with the C library") {
  auto worst = [](double& so_far, double ours, double reference, double scale) {
    so_far = std::max(so_far, std::fabs(ours - reference) / scale);
  };
  double exp_error = 0.0, log_error = 0.0, pow_error = 0.0;
  for (float x = -80.0f; x < 80.0f; x += 0.037f)
    worst(exp_error, fast::exp(x), std::exp(x), std::exp(x));
  for (float x = 1e-20f; x < 1e20f; x *= 1.37f)
    worst(log_error, fast::log(x), std::log(x), std::max(1.0f, std::fabs(std::log(x))));
  // A power's relative error is its exponent times the logarithm's absolute error.
  for (float x = 0.02f; x <= 1.0f; x += 0.0013f)
    for (float y : {1.0f, 1.5f, 8.3f, 19.0f})
      worst(pow_error, fast::pow(x, y), std::pow(x, y), std::pow(x, y));
  CHECK(exp_error < 1e-6);
  CHECK(log_error < 1e-6);
  CHECK(pow_error < 1e-5);
  CHECK(fast::pow(0.0f, 3.0f) == 0.0f);
}

PATH_TEST_CASE("AdaQuant's weights are the nearest grid points; the gradient stops where clamped") {
  WeightGrid grid;
  grid.weights = {-2.0f, 0.33f, -0.8f, 0.7f, 5.0f};
  grid.scale.assign(5, 0.1f);
  grid.offset.assign(5, -8.0f);
  grid.quant_max = 15.0f;  // levels -0.8 ... 0.7
  ThreadPool pool(1);
  StraightThroughWeights trained(grid, pool);
  std::vector<float> weights(5), grad(5);
  trained.forward(weights.data());
  CHECK(weights == nearest_weights(grid));
  CHECK(weights[0] == Approx(-0.8f));
  CHECK(weights[1] == Approx(0.3f));
  CHECK(weights[4] == Approx(0.7f));
  const std::vector<float> ones(5, 1.0f);
  CHECK(trained.backward(0, ones.data(), grad.data()) == 0.0);
  CHECK(grad == std::vector<float>{0.0f, 1.0f, 1.0f, 1.0f, 0.0f});
  trained.values()[1] = 0.36f;
  trained.final_weights(weights.data());
  CHECK(weights[1] == Approx(0.4f));
}
