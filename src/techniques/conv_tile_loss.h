// What the direct, Winograd and depthwise Conv losses share: the reconstruction loss and dL/dz
// of a tile of output positions, vectorized across output channels (16 per vector), the sizes
// of the register tiles their kernels keep, and their loop over a task's samples.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/ops/simd.h"
#include "techniques/adaround_layer.h"
#include "techniques/layer_input_cache.h"
#include "util/error.h"
#include "util/isa_namespace.h"

namespace qsim::QSIM_ISA_NS::conv_tiles {

using V = FloatVector;
constexpr int kLanes = 16;
constexpr int kMaxVectors = 4;

// Positions per kernel call with 1, 2 or 4 output channel vectors: the accumulators (positions
// times vectors) take most of the 32 vector registers.
constexpr int max_tile(int vectors) {
  return vectors == 1 ? 16 : vectors == 2 ? 12 : 6;
}
constexpr int kMaxTileVectors = 24;

// The tile's products z ([count][OV]) become dL/dz, as fuse_row computes them; `act(z, v, lane,
// a, da)` gives f(z) and f'(z) for the register-wide part of vector v from `lane`. It goes one
// register-wide part of one vector at a time over the tile's positions, so that its sums stay
// in registers on every path (on AVX2 four vectors' sums, biases and operands would not); each
// lane still adds its positions in order.
template <int OV, typename Act>
inline void fuse_tile(const Act& act, int count, V* z, const float* targets, int64_t outputs,
                      const V* bias, float scale, V* squares, V* bias_grads) {
  using R = RegisterVector;
  float* zs = reinterpret_cast<float*>(z);
  float* square_sums = reinterpret_cast<float*>(squares);
  float* bias_sums = reinterpret_cast<float*>(bias_grads);
  const float* biases = reinterpret_cast<const float*>(bias);
  for (int v = 0; v < OV; ++v)
#pragma GCC unroll 4
    for (int part = 0; part < kRegisterParts; ++part) {
      const int64_t lane = v * kLanes + part * kRegisterLanes;
      R square_sum = load<R>(square_sums + lane), bias_sum = load<R>(bias_sums + lane);
      const R b = load<R>(biases + lane);
      for (int r = 0; r < count; ++r) {
        float* zr = zs + r * OV * kLanes + lane;
        R a, da;
        act(load<R>(zr) + b, v, part * kRegisterLanes, a, da);
        const R diff = a - load<R>(targets + r * outputs + lane);
        square_sum += diff * diff;
        const R dz = scale * diff * da;
        std::memcpy(zr, &dz, sizeof dz);
        bias_sum += dz;
      }
      std::memcpy(square_sums + lane, &square_sum, sizeof square_sum);
      std::memcpy(bias_sums + lane, &bias_sum, sizeof bias_sum);
    }
}

// One block of output channels (`vectors` vectors from channel `first`) over a sample: its bias
// and PRelu slopes, and the squared errors and dL/dbias its tiles add up in registers.
class BlockLoss {
 public:
  BlockLoss(const Activation& activation, const float* bias, int64_t first, int vectors,
            float scale)
      : activation_(activation), first_(first), vectors_(vectors), scale_(scale) {
    for (int v = 0; v < vectors; ++v) {
      bias_[v] = load_vector(bias + first + v * kLanes);
      slope_[v] = activation.kind == ActivationKind::kPRelu
                      ? load_vector(activation.slope.data() + first + v * kLanes)
                      : V{};
    }
  }

  // fn(act) with the activation's vector form act(z, v, lane, a, da) (f(z) and f'(z) for the
  // register-wide part of vector v of the block from `lane`; z, a and da of any float vector
  // type), so that a kernel can be made for each activation instead of asking at every tile.
  template <typename Fn>
  void visit(const Fn& fn) const {
    switch (activation_.kind) {
      case ActivationKind::kIdentity:
        fn([](auto x, int, int64_t, auto& a, auto& da) {
          a = x;
          da = splat<decltype(x)>(1.0f);
        });
        break;
      case ActivationKind::kRelu:
        fn([](auto x, int, int64_t, auto& a, auto& da) {
          using P = decltype(x);
          const P zero = {};
          const auto positive = x > zero;
          a = positive ? x : zero;
          da = positive ? splat<P>(1.0f) : zero;
        });
        break;
      case ActivationKind::kClip: {
        const float lower = activation_.lower, upper = activation_.upper;
        fn([=](auto x, int, int64_t, auto& a, auto& da) {
          using P = decltype(x);
          const P lo = splat<P>(lower), hi = splat<P>(upper), zero = {};
          const P above = x < lo ? lo : x;  // std::min(std::max(x, lo), hi)
          a = hi < above ? hi : above;
          da = ((x > lo) & (x < hi)) ? splat<P>(1.0f) : zero;
        });
        break;
      }
      case ActivationKind::kPRelu: {
        const V* slopes = slope_;
        fn([=](auto x, int v, int64_t lane, auto& a, auto& da) {
          using P = decltype(x);
          const P slope = load<P>(reinterpret_cast<const float*>(&slopes[v]) + lane);
          const auto positive = x > P{};
          a = positive ? x : slope * x;
          da = positive ? splat<P>(1.0f) : slope;
        });
        break;
      }
      default:
        fail(ErrorCode::kInternal, "adaround: no vector form of activation " +
                                       std::string(activation_name(activation_.kind)));
    }
  }

  // The tile's products z ([count][vectors]) become dL/dz, its errors join the block's sums.
  template <int OV, typename Act>
  void fuse(const Act& act, int count, V* z, const float* targets, int64_t outputs) {
    fuse_tile<OV>(act, count, z, targets, outputs, bias_, scale_, squares_, bias_grads_);
  }
  void run(int count, V* z, const float* targets, int64_t outputs) {
    visit([&](const auto& act) {
      if (vectors_ == 1)
        fuse<1>(act, count, z, targets, outputs);
      else if (vectors_ == 2)
        fuse<2>(act, count, z, targets, outputs);
      else
        fuse<4>(act, count, z, targets, outputs);
    });
  }

  // The block's sum of squared errors (lane by lane); its dL/dbias is added to bias_grads
  // (all output channels) when that is not null.
  double finish(float* bias_grads) const {
    double loss = 0.0;
    for (int v = 0; v < vectors_; ++v)
      for (int lane = 0; lane < kLanes; ++lane) {
        loss += squares_[v][lane];
        if (bias_grads != nullptr) bias_grads[first_ + v * kLanes + lane] += bias_grads_[v][lane];
      }
    return loss;
  }

 private:
  const Activation& activation_;
  int64_t first_;
  int vectors_;
  float scale_;
  V bias_[kMaxVectors], slope_[kMaxVectors];
  V squares_[kMaxVectors] = {}, bias_grads_[kMaxVectors] = {};
};

// Asks for an in-memory cached sample to be brought into the CPU's caches.
inline void prefetch(const SampleCache& cache, int64_t sample) {
  if (!cache.in_memory()) return;
  const char* bytes = reinterpret_cast<const char*>(cache.read(sample, nullptr));
  const int64_t size = cache.sample_floats() * static_cast<int64_t>(sizeof(float));
  for (int64_t at = 0; at < size; at += 64) __builtin_prefetch(bytes + at, 0, 2);
}

// Room for one sample read back from file-backed caches (none for in-memory ones).
struct SampleBuffers {
  SampleBuffers(const SampleCache& inputs, const SampleCache& targets)
      : input(inputs.in_memory() ? 0 : static_cast<size_t>(inputs.sample_floats())),
        target(targets.in_memory() ? 0 : static_cast<size_t>(targets.sample_floats())) {}
  std::vector<float> input, target;
};

// The sum of run(input, target) over `samples`, in order. The caches are far larger than the
// CPU's: the next sample's input is fetched while one runs (its target is read in order, which
// the hardware prefetcher follows).
template <typename Run>
double sum_over_samples(const SampleCache& inputs, const SampleCache& targets,
                        std::span<const int64_t> samples, SampleBuffers& buffers, const Run& run) {
  double loss = 0.0;
  for (size_t j = 0; j < samples.size(); ++j) {
    if (j + 1 < samples.size()) prefetch(inputs, samples[j + 1]);
    loss += run(inputs.read(samples[j], buffers.input.data()),
                targets.read(samples[j], buffers.target.data()));
  }
  return loss;
}

inline bool has_vector_form(const Activation& activation) {
  return activation.kind == ActivationKind::kIdentity || activation.kind == ActivationKind::kRelu ||
         activation.kind == ActivationKind::kClip || activation.kind == ActivationKind::kPRelu;
}

}  // namespace qsim::QSIM_ISA_NS::conv_tiles
