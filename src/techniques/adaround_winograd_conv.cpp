#include "techniques/adaround_winograd_conv.h"

#include <algorithm>
#include <array>
#include <utility>

#include "techniques/conv_tile_loss.h"
#include "techniques/register_tile.h"
#include "util/error.h"
#include "util/integer_math.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

using V = FloatVector;
using conv_tiles::BlockLoss;
using conv_tiles::kLanes;
using conv_tiles::kMaxTileVectors;
using conv_tiles::max_tile;

// The 16 points of a block's transformed domain, and the 4 output positions of a block.
constexpr int kPoints = 16;
constexpr int kBlockPositions = 4;

// F(2, 3) in one dimension (Lavin and Gray, section 4.1):
// the input patch's transform B^T d,
template <typename T>
void input_transform(const T d[4], T out[4]) {
  out[0] = d[0] - d[2];
  out[1] = d[1] + d[2];
  out[2] = d[2] - d[1];
  out[3] = d[1] - d[3];
}

// the weights' G g,
template <typename T>
void weight_transform(const T g[3], T out[4]) {
  const T half = T(0.5f) * (g[0] + g[2]);
  const T middle = T(0.5f) * g[1];
  out[0] = g[0];
  out[1] = half + middle;
  out[2] = half - middle;
  out[3] = g[2];
}

// the product's A^T m (two outputs),
template <typename T>
void output_transform(const T m[4], T out[2]) {
  out[0] = m[0] + m[1] + m[2];
  out[1] = m[1] - m[2] - m[3];
}

// and the transposes that take gradients back: A dy, and G^T du.
template <typename T>
void output_gradient(const T dy[2], T out[4]) {
  out[0] = dy[0];
  out[1] = dy[0] + dy[1];
  out[2] = dy[0] - dy[1];
  out[3] = -dy[1];
}

template <typename T>
void weight_gradient(const T du[4], T out[3]) {
  const T sum = T(0.5f) * (du[1] + du[2]);
  out[0] = du[0] + sum;
  out[1] = T(0.5f) * (du[1] - du[2]);
  out[2] = sum + du[3];
}

// A 2-D transform of a [N][N] array into [M][M] by the 1-D one along rows, then columns.
template <int N, int M, typename T, typename Transform>
void transform_2d(const T in[N][N], T out[M][M], const Transform& transform) {
  T rows[M][N];
  for (int j = 0; j < N; ++j) {
    T column[N], done[M];
    for (int i = 0; i < N; ++i) column[i] = in[i][j];
    transform(column, done);
    for (int i = 0; i < M; ++i) rows[i][j] = done[i];
  }
  for (int i = 0; i < M; ++i) transform(rows[i], out[i]);
}

// m[r * OV + v] = sum over channels c of patches[r * channels + c] * u[c][v-th vector], for
// the R blocks of a group at one point.
template <int OV, int R>
void forward_point(const float* patches, int64_t channels, const float* u, int64_t outputs, V* m) {
  multiply_tile<R, OV>(
      channels, [&](int64_t c, int r) { return patches[r * channels + c]; }, u, outputs, m, OV);
}

// grad[c][v-th vector] += sum over the group's blocks r of dm[r * OV + v] *
// patches[r * channels + c], at one point.
template <int OV, int R>
void backward_point(const float* patches, int64_t channels, const V* dm, float* grad,
                    int64_t outputs) {
  // Few vectors give few independent sums per channel: split each in two to hide the latency.
  constexpr int kChains = OV >= 4 ? 1 : 2;
  V g[R][OV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) g[r][v] = dm[r * OV + v];
  for (int64_t c = 0; c < channels; ++c) {
    float* d = grad + c * outputs;
    V acc[kChains][OV];
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) {
      acc[0][v] = load_vector(d + v * kLanes);
      if constexpr (kChains == 2) acc[1][v] = V{};
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const V x = splat(patches[r * channels + c]);
#pragma GCC unroll 4
      for (int v = 0; v < OV; ++v) multiply_add(acc[r % kChains][v], g[r][v], x);
    }
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) {
      if constexpr (kChains == 2) acc[0][v] += acc[1][v];
      store_vector(d + v * kLanes, acc[0][v]);
    }
  }
}

struct PointKernels {
  void (*forward)(const float*, int64_t, const float*, int64_t, V*);
  void (*backward)(const float*, int64_t, const V*, float*, int64_t);
};

template <int OV, size_t... I>
std::array<PointKernels, sizeof...(I)> kernels_for(std::index_sequence<I...>) {
  return {PointKernels{&forward_point<OV, static_cast<int>(I) + 1>,
                       &backward_point<OV, static_cast<int>(I) + 1>}...};
}

const PointKernels& kernels(int vectors, int count) {
  static const auto one = kernels_for<1>(std::make_index_sequence<max_tile(1)>());
  static const auto two = kernels_for<2>(std::make_index_sequence<max_tile(2)>());
  static const auto four = kernels_for<4>(std::make_index_sequence<max_tile(4)>());
  const size_t i = static_cast<size_t>(count - 1);
  return vectors == 1 ? one[i] : vectors == 2 ? two[i] : four[i];
}

// The group's products m ([16 points][count blocks][vectors]) to its outputs z ([count blocks]
// [4 positions][vectors]), as DirectConvLoss's fuse_tile reads them.
void to_outputs(int vectors, int count, const V* m, V* z) {
  const int n = count * vectors;
  for (int e = 0; e < n; ++e) {
    V points[4][4], y[2][2];
    for (int p = 0; p < kPoints; ++p) points[p / 4][p % 4] = m[p * n + e];
    transform_2d<4, 2>(points, y, [](const V* in, V* out) { output_transform(in, out); });
    const int r = e / vectors, v = e % vectors;
    for (int q = 0; q < kBlockPositions; ++q)
      z[(r * kBlockPositions + q) * vectors + v] = y[q / 2][q % 2];
  }
}

// dL/dz of the group's outputs (z's layout) to dL/dm (m's layout).
void to_point_gradients(int vectors, int count, const V* z, V* m) {
  const int n = count * vectors;
  for (int e = 0; e < n; ++e) {
    const int r = e / vectors, v = e % vectors;
    V dy[2][2], points[4][4];
    for (int q = 0; q < kBlockPositions; ++q)
      dy[q / 2][q % 2] = z[(r * kBlockPositions + q) * vectors + v];
    transform_2d<2, 4>(dy, points, [](const V* in, V* out) { output_gradient(in, out); });
    for (int p = 0; p < kPoints; ++p) m[p * n + e] = points[p / 4][p % 4];
  }
}

}  // namespace

bool WinogradConvLayout::covers(const LayerShape& shape, const WindowGeometry& window,
                                const Activation& activation) {
  return shape.groups == 1 && shape.rows % kLanes == 0 && shape.depth % (9 * kLanes) == 0 &&
         window.in[0] == 1 && window.out[0] == 1 && window.kernel[0] == 1 &&
         window.kernel[1] == 3 && window.kernel[2] == 3 && window.stride[1] == 1 &&
         window.stride[2] == 1 && window.dilation[1] == 1 && window.dilation[2] == 1 &&
         window.out[1] % 2 == 0 && window.out[2] % 2 == 0 &&
         conv_tiles::has_vector_form(activation);
}

WinogradConvLayout::WinogradConvLayout(const LayerShape& shape, const WindowGeometry& window)
    : shape_(shape) {
  require(covers(shape, window, Activation{}) &&
              window.out[1] == window.in[1] + window.pad_begin[1] + window.pad_end[1] - 2 &&
              window.out[2] == window.in[2] + window.pad_begin[2] + window.pad_end[2] - 2,
          ErrorCode::kInternal, "adaround: the Winograd Conv loss does not cover this layer");
  const int64_t outputs = shape.outputs();
  vectors_ = outputs % (4 * kLanes) == 0 ? 4 : outputs % (2 * kLanes) == 0 ? 2 : 1;
  channels_ = shape.depth / 9;
  in_rows_ = window.in[1];
  in_cols_ = window.in[2];
  pad_top_ = window.pad_begin[1];
  pad_left_ = window.pad_begin[2];
  block_cols_ = window.out[2] / 2;
  blocks_ = window.out[1] / 2 * block_cols_;
  padded_rows_ = window.out[1] + 2;
  padded_cols_ = window.out[2] + 2;
  // Groups as equal as can be, each within the register tile.
  const int64_t count = ceil_div(blocks_, max_tile(vectors_));
  for (int64_t i = 0, first = 0; i < count; ++i) {
    const int size = static_cast<int>(blocks_ / count + (i < blocks_ % count ? 1 : 0));
    groups_.push_back({first, size});
    first += size;
  }
}

void WinogradConvLayout::lay_out_input(const float* planes, float* dst) const {
  for (int64_t y = 0; y < padded_rows_; ++y)
    for (int64_t x = 0; x < padded_cols_; ++x)
      for (int64_t c = 0; c < channels_; ++c) {
        const int64_t row = y - pad_top_, col = x - pad_left_;
        const bool inside = row >= 0 && row < in_rows_ && col >= 0 && col < in_cols_;
        dst[(y * padded_cols_ + x) * channels_ + c] =
            inside ? planes[(c * in_rows_ + row) * in_cols_ + col] : 0.0f;
      }
}

void WinogradConvLayout::lay_out_target(const float* rows, float* dst) const {
  const int64_t outputs = shape_.outputs(), positions = shape_.positions;
  const int64_t out_cols = 2 * block_cols_;
  for (int64_t b = 0; b < blocks_; ++b)
    for (int64_t q = 0; q < kBlockPositions; ++q) {
      const int64_t position =
          (b / block_cols_ * 2 + q / 2) * out_cols + b % block_cols_ * 2 + q % 2;
      for (int64_t o = 0; o < outputs; ++o)
        dst[(b * kBlockPositions + q) * outputs + o] = rows[o * positions + position];
    }
}

// G g G^T of every input and output channel's 3x3 weights ([depth][outputs]).
void WinogradConvLoss::prepare(const float* weights, const uint8_t* /*live_blocks*/) {
  const int64_t outputs = shape_.outputs(), channels = layout_.channels_;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t o = 0; o < outputs; ++o) {
      float g[3][3], u[4][4];
      for (int k = 0; k < 9; ++k) g[k / 3][k % 3] = weights[(c * 9 + k) * outputs + o];
      transform_2d<3, 4>(g, u, [](const float* in, float* out) { weight_transform(in, out); });
      for (int p = 0; p < kPoints; ++p)
        transformed_[static_cast<size_t>((p * channels + c) * outputs + o)] = u[p / 4][p % 4];
    }
}

// `weights` ([depth][outputs]) = G^T grad G, grad the gradient of G g G^T.
void WinogradConvLoss::add_weight_gradient(const float* grad, float* weights) const {
  const int64_t outputs = shape_.outputs(), channels = layout_.channels_;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t o = 0; o < outputs; ++o) {
      float du[4][4], dg[3][3];
      for (int p = 0; p < kPoints; ++p) du[p / 4][p % 4] = grad[(p * channels + c) * outputs + o];
      transform_2d<4, 3>(du, dg, [](const float* in, float* out) { weight_gradient(in, out); });
      for (int k = 0; k < 9; ++k) weights[(c * 9 + k) * outputs + o] += dg[k / 3][k % 3];
    }
}

// B^T d B of blocks [first, first + count) into `patches` ([16][count][channels]).
void WinogradConvLoss::transform_patches(const float* input, int64_t first, int count,
                                         float* patches) const {
  const int64_t channels = layout_.channels_, padded_cols = layout_.padded_cols_;
  for (int r = 0; r < count; ++r) {
    const int64_t b = first + r;
    const float* corner =
        input +
        (b / layout_.block_cols_ * 2 * padded_cols + b % layout_.block_cols_ * 2) * channels;
    for (int64_t c = 0; c < channels; c += kLanes) {
      V patch[4][4], points[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          patch[i][j] = load_vector(corner + (i * padded_cols + j) * channels + c);
      transform_2d<4, 4>(patch, points, [](const V* in, V* out) { input_transform(in, out); });
      for (int p = 0; p < kPoints; ++p)
        store_vector(patches + (p * count + r) * channels + c, points[p / 4][p % 4]);
    }
  }
}

double WinogradConvLoss::run_sample(const float* input, const float* target, const float* bias,
                                    float scale, Scratch& scratch, Partial* partial) const {
  const int64_t outputs = shape_.outputs(), channels = layout_.channels_;
  const int vectors = layout_.vectors_;
  const int64_t block = vectors * kLanes;
  float* patches = scratch.patches.data();
  float* grad = scratch.grad.data();
  double loss = 0.0;
  V m[kPoints * kMaxTileVectors], z[kBlockPositions * kMaxTileVectors];
  for (int64_t first = 0; first < outputs; first += block) {
    BlockLoss block_loss(activation_, bias, first, vectors, scale);
    for (const WinogradConvLayout::Group& group : layout_.groups_) {
      const PointKernels& k = kernels(vectors, group.count);
      const int n = group.count * vectors;
      const int64_t point_floats = group.count * channels;
      transform_patches(input, group.first, group.count, patches);
      for (int p = 0; p < kPoints; ++p)
        k.forward(patches + p * point_floats, channels,
                  transformed_.data() + p * channels * outputs + first, outputs, m + p * n);
      to_outputs(vectors, group.count, m, z);
      block_loss.run(kBlockPositions * group.count, z,
                     target + group.first * kBlockPositions * outputs + first, outputs);
      if (partial == nullptr) continue;
      to_point_gradients(vectors, group.count, z, m);
      for (int p = 0; p < kPoints; ++p)
        k.backward(patches + p * point_floats, channels, m + p * n,
                   grad + p * channels * outputs + first, outputs);
    }
    loss += block_loss.finish(partial ? partial->bias.data() : nullptr);
  }
  return loss;
}

double WinogradConvLoss::run_task(const float* /*weights*/, const float* bias,
                                  std::span<const int64_t> samples, float scale, Partial* partial) {
  std::unique_ptr<Scratch> held = scratch_.take([this] {
    auto s = std::make_unique<Scratch>(inputs_, targets_);
    s->grad.resize(transformed_.size());
    s->patches.resize(static_cast<size_t>(kPoints * max_tile(1) * layout_.channels_));
    return s;
  });
  if (partial != nullptr) {
    std::fill(held->grad.begin(), held->grad.end(), 0.0f);
    partial->clear();
  }
  const double loss = conv_tiles::sum_over_samples(
      inputs_, targets_, samples, held->samples, [&](const float* input, const float* target) {
        return run_sample(input, target, bias, scale, *held, partial);
      });
  if (partial != nullptr) add_weight_gradient(held->grad.data(), partial->weights.data());
  scratch_.give(std::move(held));
  return loss;
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
