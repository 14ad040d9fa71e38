#include "techniques/adaround_objective.h"

#include <algorithm>
#include <cmath>

#include "runtime/blas.h"
#include "techniques/element_chunks.h"
#include "util/error.h"
#include "util/integer_math.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

// Groups with fewer output channels than this (depthwise convolutions) use direct loops:
// sgemm's per-call packing costs more than such products.
constexpr int64_t kMinGemmRows = 8;
// Rows of the moment sums per task, and of (W~ - W) C per task.
constexpr int64_t kMomentRowsPerTask = 64;
constexpr int64_t kProductRowsPerTask = 16;

int blas_int(int64_t v) {
  return static_cast<int>(v);
}

float dot(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (float lane : lane_sums(n, [&](int64_t i) { return a[i] * b[i]; })) sum += lane;
  return sum;
}

// Z [rows x cols] = W [rows x depth] X [depth x cols].
void multiply(const float* w, const float* x, float* z, int64_t rows, int64_t depth, int64_t cols) {
  if (rows >= kMinGemmRows) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(rows), blas_int(cols),
                blas_int(depth), 1.0f, w, blas_int(depth), x, blas_int(cols), 0.0f, z,
                blas_int(cols));
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* zr = z + r * cols;
    std::fill(zr, zr + cols, 0.0f);
    for (int64_t k = 0; k < depth; ++k) {
      const float wk = w[r * depth + k];
      const float* xk = x + k * cols;
      for (int64_t p = 0; p < cols; ++p) zr[p] += wk * xk[p];
    }
  }
}

// dW [rows x depth] = G [rows x cols] X^T.
void multiply_transposed(const float* g, const float* x, float* dw, int64_t rows, int64_t depth,
                         int64_t cols) {
  if (rows >= kMinGemmRows) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(rows), blas_int(depth),
                blas_int(cols), 1.0f, g, blas_int(cols), x, blas_int(cols), 0.0f, dw,
                blas_int(depth));
    return;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < depth; ++k) dw[r * depth + k] = dot(g + r * cols, x + k * cols, cols);
}

// One row of the fused pass: z (the product) becomes dL/dz in place; returns the row's sum of
// squared errors and adds its dL/dz to `bias_grad`. `act(z, a, da)` gives f(z) and f'(z),
// with PyTorch's conventions at the kinks (Relu: 0 at 0; Clip: 0 at the bounds).
template <typename Act>
double fuse_row(const Act& act, float bias, float scale, float* z, const float* t, int64_t n,
                float& bias_grad) {
  float squares[kSumLanes] = {};
  float grads[kSumLanes] = {};
  auto step = [&](int64_t p, int lane) {
    float a, da;
    act(z[p] + bias, a, da);
    const float diff = a - t[p];
    squares[lane] += diff * diff;
    z[p] = scale * diff * da;
    grads[lane] += z[p];
  };
  int64_t p = 0;
  for (; p + kSumLanes <= n; p += kSumLanes)
    for (int j = 0; j < kSumLanes; ++j) step(p + j, j);
  for (int j = 0; p < n; ++p, ++j) step(p, j);
  double sum = 0.0;
  for (int j = 0; j < kSumLanes; ++j) {
    sum += squares[j];
    bias_grad += grads[j];
  }
  return sum;
}

// The fused pass over `rows` rows (output channels first_channel...) of `cols` positions.
double fuse_rows(const Activation& activation, int64_t first_channel, const float* bias,
                 float scale, float* z, const float* t, int64_t rows, int64_t cols,
                 float* bias_grad) {
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    float* zr = z + r * cols;
    const float* tr = t + r * cols;
    float row_bias_grad = 0.0f;
    const float b = bias[r];
    switch (activation.kind) {
      case ActivationKind::kIdentity:
        sum += fuse_row([](float v, float& a, float& da) { a = v, da = 1.0f; }, b, scale, zr, tr,
                        cols, row_bias_grad);
        break;
      case ActivationKind::kRelu:
        sum += fuse_row(
            [](float v, float& a, float& da) {
              a = v > 0.0f ? v : 0.0f;
              da = v > 0.0f ? 1.0f : 0.0f;
            },
            b, scale, zr, tr, cols, row_bias_grad);
        break;
      case ActivationKind::kClip: {
        const float lo = activation.lower, hi = activation.upper;
        sum += fuse_row(
            [lo, hi](float v, float& a, float& da) {
              a = std::min(std::max(v, lo), hi);
              da = v > lo && v < hi ? 1.0f : 0.0f;
            },
            b, scale, zr, tr, cols, row_bias_grad);
        break;
      }
      case ActivationKind::kPRelu: {
        const float slope = activation.slope[static_cast<size_t>(first_channel + r)];
        sum += fuse_row(
            [slope](float v, float& a, float& da) {
              a = v > 0.0f ? v : slope * v;
              da = v > 0.0f ? 1.0f : slope;
            },
            b, scale, zr, tr, cols, row_bias_grad);
        break;
      }
      case ActivationKind::kTanh:
        sum += fuse_row(
            [](float v, float& a, float& da) {
              a = std::tanh(v);
              da = 1.0f - a * a;
            },
            b, scale, zr, tr, cols, row_bias_grad);
        break;
      case ActivationKind::kSigmoid:
        sum += fuse_row(
            [](float v, float& a, float& da) {
              a = 1.0f / (1.0f + std::exp(-v));
              da = a * (1.0f - a);
            },
            b, scale, zr, tr, cols, row_bias_grad);
        break;
    }
    if (bias_grad != nullptr) bias_grad[r] = row_bias_grad;
  }
  return sum;
}

}  // namespace

// ----- TaskedLoss -----

TaskedLoss::TaskedLoss(const LayerShape& shape, int64_t max_batch, ThreadPool& pool)
    : shape_(shape), pool_(pool) {
  const int64_t tasks = ceil_div(max_batch, kSamplesPerLossTask);
  partials_.resize(static_cast<size_t>(tasks));
  for (Partial& p : partials_) {
    p.weights.resize(static_cast<size_t>(shape_.weights()));
    p.bias.resize(static_cast<size_t>(shape_.outputs()));
  }
}

double TaskedLoss::evaluate(const float* weights, const float* bias, std::span<const int64_t> batch,
                            float* grad_weights, float* grad_bias, const uint8_t* live_blocks) {
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t tasks = ceil_div(n, kSamplesPerLossTask);
  const bool gradient = grad_weights != nullptr || grad_bias != nullptr;
  require(n > 0 && (!gradient || tasks <= static_cast<int64_t>(partials_.size())),
          ErrorCode::kInternal, "adaround: minibatch of " + std::to_string(n) + " samples");
  const float scale = 2.0f / static_cast<float>(n * shape_.positions);
  std::vector<double> losses(static_cast<size_t>(tasks));
  prepare(weights, live_blocks);
  pool_.parallel_tasks(
      tasks,
      [&](int64_t t) {
        const int64_t begin = t * kSamplesPerLossTask;
        losses[static_cast<size_t>(t)] =
            run_task(weights, bias, batch.subspan(begin, std::min(kSamplesPerLossTask, n - begin)),
                     scale, gradient ? &partials_[static_cast<size_t>(t)] : nullptr);
      },
      tasks_per_thread(flops(kSamplesPerLossTask)));
  if (gradient) {
    std::vector<const float*> weight_parts, bias_parts;
    for (int64_t t = 0; t < tasks; ++t) {
      weight_parts.push_back(partials_[static_cast<size_t>(t)].weights.data());
      bias_parts.push_back(partials_[static_cast<size_t>(t)].bias.data());
    }
    if (grad_weights != nullptr) sum_in_order(pool_, weight_parts, shape_.weights(), grad_weights);
    if (grad_bias != nullptr) sum_in_order(pool_, bias_parts, shape_.outputs(), grad_bias);
  }
  return sum_in_order(losses) / static_cast<double>(n * shape_.positions);
}

// ----- MinibatchLoss -----

MinibatchLoss::MinibatchLoss(const LayerShape& shape, const Activation& activation,
                             const SampleCache& inputs, const SampleCache& targets,
                             int64_t max_batch, ThreadPool& pool, const CompactInput* compact)
    : TaskedLoss(shape, max_batch, pool),
      activation_(activation),
      inputs_(inputs),
      targets_(targets),
      compact_(compact) {}

std::unique_ptr<MinibatchLoss::Scratch> MinibatchLoss::make_scratch() const {
  auto s = std::make_unique<Scratch>();
  const int64_t cols = kSamplesPerLossTask * shape_.positions;
  s->x.resize(static_cast<size_t>(shape_.groups * shape_.depth * cols));
  s->t.resize(static_cast<size_t>(shape_.output_floats() * kSamplesPerLossTask));
  s->z.resize(s->t.size());
  if (!inputs_.in_memory()) s->sample_x.resize(static_cast<size_t>(inputs_.sample_floats()));
  if (compact_ != nullptr) {
    s->lowering.resize(compact_->scratch_bytes());
    compact_->prepare_scratch(s->lowering.data());
  }
  if (!targets_.in_memory()) s->sample_t.resize(static_cast<size_t>(shape_.output_floats()));
  return s;
}

void MinibatchLoss::gather(std::span<const int64_t> samples, Scratch& scratch) const {
  const int64_t positions = shape_.positions;
  const int64_t cols = static_cast<int64_t>(samples.size()) * positions;
  auto place = [&](const float* block, int64_t rows, int64_t column, float* dst) {
    for (int64_t r = 0; r < rows; ++r)
      std::copy(block + r * positions, block + (r + 1) * positions, dst + r * cols + column);
  };
  for (size_t j = 0; j < samples.size(); ++j) {
    const int64_t column = static_cast<int64_t>(j) * positions;
    const float* input = inputs_.read(samples[j], scratch.sample_x.data());
    if (compact_ != nullptr) {
      compact_->lower(input, scratch.x.data() + column, cols, scratch.lowering.data());
    } else {
      place(input, shape_.groups * shape_.depth, column, scratch.x.data());
    }
    place(targets_.read(samples[j], scratch.sample_t.data()), shape_.outputs(), column,
          scratch.t.data());
  }
}

double MinibatchLoss::run_task(const float* weights, const float* bias,
                               std::span<const int64_t> samples, float scale, Partial* partial) {
  std::unique_ptr<Scratch> held = scratch_.take([this] { return make_scratch(); });
  Scratch& scratch = *held;
  gather(samples, scratch);
  const int64_t rows = shape_.rows, depth = shape_.depth;
  const int64_t cols = static_cast<int64_t>(samples.size()) * shape_.positions;
  double loss = 0.0;
  for (int64_t g = 0; g < shape_.groups; ++g) {
    const float* x = scratch.x.data() + g * depth * cols;
    float* z = scratch.z.data() + g * rows * cols;
    multiply(weights + g * rows * depth, x, z, rows, depth, cols);
    loss += fuse_rows(activation_, g * rows, bias + g * rows, scale, z,
                      scratch.t.data() + g * rows * cols, rows, cols,
                      partial ? partial->bias.data() + g * rows : nullptr);
    if (partial)
      multiply_transposed(z, x, partial->weights.data() + g * rows * depth, rows, depth, cols);
  }
  scratch_.give(std::move(held));
  return loss;
}

// ----- SecondMoments -----

SecondMoments::SecondMoments(const LayerShape& shape, bool with_bias)
    : shape_(shape), with_bias_(with_bias), depth_(shape.depth + (with_bias ? 1 : 0)) {
  inputs_.assign(static_cast<size_t>(shape_.groups * depth_ * depth_), 0.0);
  crossed_.assign(static_cast<size_t>(shape_.groups * shape_.rows * depth_), 0.0);
}

void SecondMoments::add(const float* inputs, const float* targets, int64_t columns,
                        ThreadPool& pool) {
  const int64_t depth = shape_.depth, rows = shape_.rows, da = depth_;
  const int64_t blocks = ceil_div(depth, kMomentRowsPerTask);
  // Per group: `blocks` tasks of C rows, then one task for E.
  const int64_t tasks = shape_.groups * (blocks + 1);
  auto row_sum = [columns](const float* row) {
    double sum = 0.0;
    for (int64_t p = 0; p < columns; ++p) sum += row[p];
    return sum;
  };
  pool.parallel_for(tasks, [&](int64_t first, int64_t last) {
    std::vector<float> product;
    for (int64_t t = first; t < last; ++t) {
      const int64_t g = t / (blocks + 1), block = t % (blocks + 1);
      const float* x = inputs + g * depth * columns;
      if (block < blocks) {
        const int64_t r0 = block * kMomentRowsPerTask;
        const int64_t count = std::min(kMomentRowsPerTask, depth - r0);
        product.resize(static_cast<size_t>(count * depth));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(count), blas_int(depth),
                    blas_int(columns), 1.0f, x + r0 * columns, blas_int(columns), x,
                    blas_int(columns), 0.0f, product.data(), blas_int(depth));
        double* c = inputs_.data() + g * da * da;
        for (int64_t r = 0; r < count; ++r) {
          for (int64_t k = 0; k < depth; ++k) c[(r0 + r) * da + k] += product[r * depth + k];
          if (with_bias_) {
            const double sum = row_sum(x + (r0 + r) * columns);
            c[(r0 + r) * da + depth] += sum;
            c[depth * da + r0 + r] += sum;
          }
        }
        continue;
      }
      const float* y = targets + g * rows * columns;
      product.resize(static_cast<size_t>(rows * depth));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(rows), blas_int(depth),
                  blas_int(columns), 1.0f, y, blas_int(columns), x, blas_int(columns), 0.0f,
                  product.data(), blas_int(depth));
      double* e = crossed_.data() + g * rows * da;
      for (int64_t m = 0; m < rows; ++m) {
        for (int64_t k = 0; k < depth; ++k) e[m * da + k] += product[m * depth + k];
        if (with_bias_) e[m * da + depth] += row_sum(y + m * columns);
      }
      if (with_bias_) inputs_[static_cast<size_t>(g * da * da + depth * da + depth)] += columns;
    }
  });
  for (int64_t i = 0; i < shape_.outputs() * columns; ++i)
    target_square_ += static_cast<double>(targets[i]) * targets[i];
  positions_ += columns;
}

// ----- SecondMomentLoss -----

SecondMomentLoss::SecondMomentLoss(const SecondMoments& moments,
                                   const std::vector<float>& float_weights,
                                   const std::vector<float>& float_bias, ThreadPool& pool)
    : shape_(moments.shape()),
      depth_(moments.depth()),
      with_bias_(moments.with_bias()),
      positions_(static_cast<double>(moments.positions())),
      float_weights_(float_weights),
      float_bias_(float_bias),
      pool_(pool) {
  const int64_t rows = shape_.rows, depth = shape_.depth, da = depth_;
  residual_.resize(static_cast<size_t>(shape_.groups * rows * da));
  // F = W C - E and sum |R|^2 = sum W (F - E) + sum |t - b|^2, in double: F is the difference
  // of two nearly equal products.
  double residual_square = moments.target_square_;
  for (int64_t g = 0; g < shape_.groups; ++g) {
    const double* c = moments.inputs_.data() + g * da * da;
    for (int64_t m = 0; m < rows; ++m) {
      const float* w = float_weights_.data() + (g * rows + m) * depth;
      const double* e = moments.crossed_.data() + (g * rows + m) * da;
      for (int64_t k = 0; k < da; ++k) {
        double wc = 0.0;
        for (int64_t j = 0; j < depth; ++j) wc += static_cast<double>(w[j]) * c[j * da + k];
        const double f = wc - e[k];
        residual_[static_cast<size_t>((g * rows + m) * da + k)] = static_cast<float>(f);
        if (k < depth) residual_square += w[k] * (f - e[k]);
      }
    }
  }
  residual_square_ = residual_square;
  const std::vector<float> inputs(moments.inputs_.begin(), moments.inputs_.end());  // C, float
  for (int64_t g = 0; g < shape_.groups; ++g)
    products_.emplace_back(&inputs[g * da * da], da, da, da);
  delta_.resize(residual_.size());
  product_.resize(residual_.size());
}

double SecondMomentLoss::evaluate(const float* weights, const float* bias, std::span<const int64_t>,
                                  float* grad_weights, float* grad_bias, const uint8_t*) {
  require(grad_bias == nullptr || with_bias_, ErrorCode::kInternal,
          "adaround: a bias gradient from moments summed without the bias");
  const int64_t rows = shape_.rows, depth = shape_.depth, da = depth_;
  const int64_t blocks = ceil_div(rows, kProductRowsPerTask);
  const int64_t tasks = shape_.groups * blocks;
  const float scale = static_cast<float>(2.0 / positions_);
  std::vector<double> parts(static_cast<size_t>(tasks));
  // Task t: outputs [first, first + count) of one group, from their (W~ - W) to their gradient.
  pool_.parallel_tasks(
      tasks,
      [&](int64_t t) {
        const int64_t g = t / blocks, first = g * rows + t % blocks * kProductRowsPerTask;
        const int64_t count = std::min(kProductRowsPerTask, (g + 1) * rows - first);
        for (int64_t i = first; i < first + count; ++i) {
          for (int64_t k = 0; k < depth; ++k)
            delta_[static_cast<size_t>(i * da + k)] =
                weights[i * depth + k] - float_weights_[i * depth + k];
          if (with_bias_) delta_[static_cast<size_t>(i * da + depth)] = bias[i] - float_bias_[i];
        }
        const int64_t offset = first * da;
        products_[static_cast<size_t>(g)].multiply(delta_.data() + offset, count, da,
                                                   product_.data() + offset, da);
        const float* delta = delta_.data() + offset;
        float* product = product_.data() + offset;
        const float* residual = residual_.data() + offset;
        // In lanes, as the direct losses sum theirs: one running sum would be a chain of
        // dependent double additions, slower than the product's share of the task.
        parts[static_cast<size_t>(t)] = lane_total(lane_sums<double>(count * da, [&](int64_t i) {
          return static_cast<double>(delta[i]) * (product[i] + 2.0 * residual[i]);
        }));
        for (int64_t i = 0; i < count * da; ++i)
          product[i] = scale * (product[i] + residual[i]);  // the gradient
        for (int64_t i = first; i < first + count; ++i) {
          if (grad_weights != nullptr)
            std::copy(product_.data() + i * da, product_.data() + i * da + depth,
                      grad_weights + i * depth);
          if (grad_bias != nullptr) grad_bias[i] = product_[i * da + depth];
        }
      },
      tasks_per_thread(flops(0) / static_cast<double>(tasks)));
  return (sum_in_order(parts) + residual_square_) / positions_;
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
