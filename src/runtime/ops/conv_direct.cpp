#include "runtime/ops/conv_direct.h"

#include <algorithm>
#include <cstring>

#include "runtime/ops/simd.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

// Tiles sized to the path's registers: AVX-512 has 32 of 64 bytes, AVX2 16 of 32, SSE2 16 of
// 16. A tile's accumulators, its operands and a broadcast must fit them, or every multiply-add
// spills. Every output sums the same products in the same order on every path, whatever the
// tile, so the paths differ only in how each multiply-add rounds (simd.h).
constexpr int kVectorBytes = kRegisterBytes;
typedef float Vec __attribute__((vector_size(kVectorBytes)));
typedef int32_t IntVec __attribute__((vector_size(kVectorBytes)));
constexpr int kLanes = kVectorBytes / sizeof(float);
constexpr bool kWideRegisters = kVectorBytes == 64;

// A task aims at this many multiply-adds: enough to amortize its setup, few enough that a
// single image still spreads over the threads.
constexpr int64_t kTaskOps = int64_t{1} << 18;

int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// ----- Flat: lanes over output positions -----

// Filters per flat tile (weights broadcast), and position vectors per tile. A tile's vectors
// are consecutive whole vectors of the batch's planes: a tile of a 4x4 plane spans 3 images.
constexpr int kFlatFilters = kWideRegisters ? 8 : 4;
constexpr int kFlatVectors = kWideRegisters || kVectorBytes == 32 ? 3 : 2;
// Planes smaller than this take the window kernel on every path, so that each path takes
// the same kernel for a layer.
constexpr int64_t kMinFlatPlane = 16;

bool flat_fits(const WindowGeometry& g) {
  if (g.rank > 2 || g.kernel_size() > FlatLayout::kMaxTaps || g.out_size() < kMinFlatPlane)
    return false;
  for (int d = 1; d < kMaxSpatialRank; ++d)
    if (g.stride[d] > 2 || g.out[d] * g.stride[d] < g.in[d]) return false;
  return true;
}

// Index of `value` in values[0, count), appended when missing.
template <size_t N>
int find_or_add(std::array<int64_t, N>& values, int& count, int64_t value, int first = 0) {
  for (int k = first; k < count; ++k)
    if (values[k] == value) return k;
  values[count] = value;
  return count++;
}

FlatLayout flat_layout(const WindowGeometry& g) {
  FlatLayout f;
  f.plane = g.out_size();
  f.vectors = f.plane / kLanes;
  const int64_t width = g.out[2];
  std::array<int64_t, FlatLayout::kMaxTaps> phase_of{}, shift_of{}, mask_of{};
  std::array<int64_t, FlatLayout::kMaxPhases> phase_key{};
  int64_t reach = 0;
  for (int64_t i = 0; i < g.kernel[1]; ++i)
    for (int64_t j = 0; j < g.kernel[2]; ++j, ++f.taps) {
      const int64_t row = i * g.dilation[1] - g.pad_begin[1];
      const int64_t column = j * g.dilation[2] - g.pad_begin[2];
      const int64_t di = floor_div(row, g.stride[1]);
      const int64_t dj = floor_div(column, g.stride[2]);
      const int64_t a = row - di * g.stride[1];
      const int64_t b = column - dj * g.stride[2];
      const int q = find_or_add(phase_key, f.phases, a * g.stride[2] + b);
      f.phase_row[q] = a;
      f.phase_column[q] = b;
      f.first_row[q] = std::min(f.first_row[q], di);
      f.last_row[q] = std::max(f.last_row[q], di);
      phase_of[f.taps] = q;
      shift_of[f.taps] = di * width + dj;
      mask_of[f.taps] = dj == 0 ? 0 : find_or_add(f.mask_shift, f.mask_rows, dj, 1);
      f.column_shift[f.taps] = dj;
      reach = std::max(reach, std::abs(shift_of[f.taps]));
    }
  f.gap = ceil_div(reach, kLanes) * kLanes;  // keeps every phase plane aligned
  for (int64_t t = 0; t < f.taps; ++t) {
    f.offsets[t] = phase_of[t] * (f.gap + f.plane) + shift_of[t];
    f.mask_offsets[t] = mask_of[t] * f.vectors;
  }
  f.in_place = f.taps == 1 && shift_of[0] == 0 && f.phase_row[0] == 0 && f.phase_column[0] == 0 &&
               g.stride[1] == 1 && g.stride[2] == 1 && g.out[1] == g.in[1] && g.out[2] == g.in[2];
  return f;
}

struct FlatArgs {
  // Per vector of the tile: phase plane 0 of channel 0 at its first position, its mask in
  // mask row 0, and the filter block's first output (and sum input, or nullptr) at it.
  std::array<const float*, kFlatVectors> input;
  std::array<const IntVec*, kFlatVectors> masks;
  std::array<float*, kFlatVectors> output;
  std::array<const float*, kFlatVectors> z;
  int64_t channel_stride;  // floats between input channels
  int64_t channels;
  const FlatLayout* layout;
  const float* weights;  // packed [channel][tap][kFlatFilters] of the filter block
  const float* bias;     // kFlatFilters of them
  int64_t filters;       // valid filters of the block
  int64_t plane;         // floats between output filters
};

template <int NV, bool kMasked, typename Op>
void flat_tile(const FlatArgs& t, Op activation) {
  // Unrolled so that the tile stays in registers: rolled, GCC keeps it in memory on the
  // narrower paths (16 registers).
  Vec acc[kFlatFilters][NV];
#pragma GCC unroll 8
  for (int m = 0; m < kFlatFilters; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[m][v] = splat<Vec>(t.bias[m]);
  const FlatLayout& layout = *t.layout;
  const float* w = t.weights;
  // Every channel's and tap's products, x at `at` from each vector's input.
  const auto fold = [&](const float* const* input, int64_t at, const IntVec* const* masks) {
    Vec x[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      x[v] = load<Vec>(input[v] + at);
      if constexpr (kMasked) x[v] = (Vec)((IntVec)x[v] & *masks[v]);
    }
#pragma GCC unroll 8
    for (int m = 0; m < kFlatFilters; ++m) {
      const Vec wm = splat<Vec>(w[m]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) multiply_add(acc[m][v], x[v], wm);
    }
    w += kFlatFilters;
  };
  // The inputs advance by a channel at a time: no multiply per channel, and a 1x1 layer's
  // single tap has no tap loop around it (its loop overhead rivals its 12 multiply-adds).
  const float* input[NV];
  for (int v = 0; v < NV; ++v) input[v] = t.input[v];
  const IntVec* masks[NV];
  if (layout.taps == 1) {
    const int64_t at = layout.offsets[0];
    for (int v = 0; v < NV; ++v) masks[v] = t.masks[v] + layout.mask_offsets[0];
    for (int64_t c = 0; c < t.channels; ++c) {
      fold(input, at, masks);
      for (int v = 0; v < NV; ++v) input[v] += t.channel_stride;
    }
  } else {
    for (int64_t c = 0; c < t.channels; ++c) {
      for (int64_t k = 0; k < layout.taps; ++k) {
        if constexpr (kMasked)
          for (int v = 0; v < NV; ++v) masks[v] = t.masks[v] + layout.mask_offsets[k];
        fold(input, layout.offsets[k], masks);
      }
      for (int v = 0; v < NV; ++v) input[v] += t.channel_stride;
    }
  }
  for (int v = 0; v < NV; ++v)
    if (t.z[v] != nullptr)
      for (int64_t m = 0; m < t.filters; ++m) {
        Vec z;
        std::memcpy(&z, t.z[v] + m * t.plane, sizeof z);
        acc[m][v] += z;
      }
  for (int64_t m = 0; m < t.filters; ++m)
    for (int v = 0; v < NV; ++v) {
      activation(acc[m][v]);
      std::memcpy(t.output[v] + m * t.plane, &acc[m][v], sizeof(Vec));
    }
}

template <bool kMasked, typename Op>
void run_flat_tile(int vectors, const FlatArgs& args, Op activation) {
  switch (vectors) {
    case 1:
      return flat_tile<1, kMasked>(args, activation);
    case 2:
      return flat_tile<2, kMasked>(args, activation);
    default:
      return flat_tile<kFlatVectors, kMasked>(args, activation);
  }
}

// The remainder of a plane, positions [begin, end): groups of kRemainderPositions positions
// (the last repeated to fill a group) x 8 or 16 filters over lanes of 8, every input element
// broadcast (zero where the tap's column falls off the row, as the masks make it in the
// vector tiles). The outputs are stored one by one.
typedef float HalfVec __attribute__((vector_size(kFlatFilters * sizeof(float))));
constexpr int kRemainderPositions = 4;

template <int kBlocks, typename Op>
void flat_remainder_group(const FlatArgs& t, const int64_t (&positions)[kRemainderPositions],
                          const bool (*inside)[FlatLayout::kMaxTaps], int stored, int64_t m0,
                          Op activation) {
  const FlatLayout& layout = *t.layout;
  const int64_t block_floats = t.channels * layout.taps * kFlatFilters;
  HalfVec acc[kRemainderPositions][kBlocks];
  for (int j = 0; j < kRemainderPositions; ++j)
    for (int b = 0; b < kBlocks; ++b)
      std::memcpy(&acc[j][b], t.bias + m0 + b * kFlatFilters, sizeof(HalfVec));
  const float* w = t.weights + m0 / kFlatFilters * block_floats;
  for (int64_t c = 0; c < t.channels; ++c) {
    const float* xc = t.input[0] + c * t.channel_stride;
    for (int64_t k = 0; k < layout.taps; ++k, w += kFlatFilters) {
      HalfVec wv[kBlocks];
      for (int b = 0; b < kBlocks; ++b) std::memcpy(&wv[b], w + b * block_floats, sizeof(HalfVec));
      for (int j = 0; j < kRemainderPositions; ++j) {
        const HalfVec x =
            splat<HalfVec>(inside[j][k] ? xc[positions[j] + layout.offsets[k]] : 0.0f);
        for (int b = 0; b < kBlocks; ++b) multiply_add(acc[j][b], wv[b], x);
      }
    }
  }
  for (int j = 0; j < stored; ++j)
    for (int b = 0; b < kBlocks; ++b)
      for (int i = 0; i < kFlatFilters; ++i) {
        const int64_t m = m0 + b * kFlatFilters + i;
        if (m >= t.filters) break;
        const int64_t at = m * t.plane + positions[j];
        float v = acc[j][b][i];
        if (t.z[0] != nullptr) v += t.z[0][at];
        activation(v);
        t.output[0][at] = v;
      }
}

// For one image: t.input, t.output and t.z hold its bases in their first entries, and
// t.filters is every filter of the layer.
template <typename Op>
void flat_remainder(const FlatArgs& t, int64_t width, int64_t begin, int64_t end, Op activation) {
  const FlatLayout& layout = *t.layout;
  for (int64_t p0 = begin; p0 < end; p0 += kRemainderPositions) {
    int64_t positions[kRemainderPositions];
    bool inside[kRemainderPositions][FlatLayout::kMaxTaps];
    for (int j = 0; j < kRemainderPositions; ++j) {
      positions[j] = std::min(p0 + j, end - 1);
      for (int64_t k = 0; k < layout.taps; ++k) {
        const int64_t column = positions[j] % width + layout.column_shift[k];
        inside[j][k] = column >= 0 && column < width;
      }
    }
    const int stored = static_cast<int>(std::min<int64_t>(kRemainderPositions, end - p0));
    for (int64_t m0 = 0; m0 < t.filters; m0 += 2 * kFlatFilters) {
      if (t.filters - m0 > kFlatFilters) {
        flat_remainder_group<2>(t, positions, inside, stored, m0, activation);
      } else {
        flat_remainder_group<1>(t, positions, inside, stored, m0, activation);
      }
    }
  }
}

// Whether copy_stride2_phase_rows takes this input: stride 2, rows that fit one vector pair,
// and AVX-512 or AVX2 to pick their columns with.
bool stride2_rows_fit(const WindowGeometry& g) {
#if defined(__AVX512F__) || defined(__AVX2__)
  return g.stride[1] == 2 && g.stride[2] == 2 && g.in[2] <= 2 * kLanes && g.out[2] <= kLanes;
#else
  (void)g;
  return false;
#endif
}

// Phase rows [begin, end) of a stride-2 input that stride2_rows_fit (input rows 2 i + a,
// columns 2 j + b): zero past the input's last row and column.
void copy_stride2_phase_rows(const WindowGeometry& g, const float* in, int64_t a, int64_t b,
                             int64_t begin, int64_t end, float* phase) {
#if defined(__AVX512F__)
  const __mmask16 low = first_lanes(g.in[2]), high = first_lanes(g.in[2] - kLanes);
  const __mmask16 stored = first_lanes(g.out[2]);
  for (int64_t i = begin; i < end; ++i) {
    const int64_t row = 2 * i + a;
    __m512 columns = _mm512_setzero_ps();
    if (row < g.in[1]) {
      const float* x = in + row * g.in[2];
      columns = every_other(_mm512_maskz_loadu_ps(low, x), _mm512_maskz_loadu_ps(high, x + kLanes),
                            static_cast<int>(b));
    }
    _mm512_mask_storeu_ps(phase + i * g.out[2], stored, columns);
  }
#elif defined(__AVX2__)
  const __m256i low = first_lanes(g.in[2]), high = first_lanes(g.in[2] - kLanes);
  const __m256i stored = first_lanes(g.out[2]);
  for (int64_t i = begin; i < end; ++i) {
    const int64_t row = 2 * i + a;
    __m256 columns = _mm256_setzero_ps();
    if (row < g.in[1]) {
      const float* x = in + row * g.in[2];
      columns = every_other(_mm256_maskload_ps(x, low), _mm256_maskload_ps(x + kLanes, high),
                            static_cast<int>(b));
    }
    _mm256_maskstore_ps(phase + i * g.out[2], stored, columns);
  }
#else
  (void)g, (void)in, (void)a, (void)b, (void)begin, (void)end, (void)phase;
#endif
}

// ----- Window: lanes over output channels -----

// Accumulator vectors a window tile may hold (out of 32 or 16 registers, leaving room for the
// weights and the broadcast input).
constexpr int kMaxAccumulators = kWideRegisters ? 21 : 12;
constexpr int kMaxTileBlocks = 4;
constexpr int kWidePositions[] = {14, 7, 4, 2, 1};
constexpr int kNarrowPositions[] = {12, 6, 4, 2, 1};
constexpr const auto& kTilePositions = kWideRegisters ? kWidePositions : kNarrowPositions;

constexpr int max_tile_blocks(int positions) {
  return std::min(kMaxTileBlocks, kMaxAccumulators / positions);
}

struct WindowArgs {
  const float* input;      // padded rows of channel 0 at the tile's first window origin
  int64_t channel_stride;  // floats between channels of the padded copy
  int64_t channels;
  int64_t kernel_h;
  int64_t kernel_w;
  int64_t row_step;      // floats between kernel rows (dilation * padded width)
  int64_t col_step;      // floats between kernel columns (dilation)
  const float* weights;  // packed, the tile's first filter block at (channel 0, tap 0)
  int64_t block_stride;  // floats between filter blocks
  const float* bias;     // the tile's first filter block
};

// Writes the tile as [OB][P][kLanes]: filter block, position, filter in the block.
template <int OB, int P, int S>
void window_tile(const WindowArgs& t, float* out) {
  Vec acc[OB][P];
  for (int b = 0; b < OB; ++b) {
    Vec bias;
    std::memcpy(&bias, t.bias + b * kLanes, sizeof bias);
    for (int p = 0; p < P; ++p) acc[b][p] = bias;
  }
  const float* w = t.weights;
  for (int64_t c = 0; c < t.channels; ++c) {
    const float* xc = t.input + c * t.channel_stride;
    for (int64_t i = 0; i < t.kernel_h; ++i) {
      const float* xr = xc + i * t.row_step;
      for (int64_t j = 0; j < t.kernel_w; ++j, w += kLanes) {
        const float* xt = xr + j * t.col_step;
        Vec wv[OB];
#pragma GCC unroll 4
        for (int b = 0; b < OB; ++b) wv[b] = load<Vec>(w + b * t.block_stride);
#pragma GCC unroll 14
        for (int p = 0; p < P; ++p) {
          const Vec x = splat<Vec>(xt[p * S]);
#pragma GCC unroll 4
          for (int b = 0; b < OB; ++b) multiply_add(acc[b][p], wv[b], x);
        }
      }
    }
  }
  std::memcpy(out, acc, sizeof acc);
}

// Transposes a tile of `positions` into the NCHW output at `y` (its first filter and
// position; filter f of the tile is lane f % 16 of block f / 16), adding z (like y, or
// nullptr) and applying the activation on the way.
template <typename Op>
void store_window_tile(const float* tile, int positions, int64_t filters, const float* z, float* y,
                       int64_t plane, Op activation) {
  for (int64_t f = 0; f < filters; ++f) {
    const float* src = tile + f / kLanes * positions * kLanes + f % kLanes;
    float* dst = y + f * plane;
    for (int p = 0; p < positions; ++p) dst[p] = src[p * kLanes];
    if (z != nullptr)
      for (int p = 0; p < positions; ++p) dst[p] += z[f * plane + p];
    for (int p = 0; p < positions; ++p) activation(dst[p]);
  }
}

using WindowTileFn = void (*)(const WindowArgs&, float*);

template <int P, int S>
WindowTileFn window_tile_for_blocks(int blocks) {
  static_assert(max_tile_blocks(P) >= 1);
  switch (blocks) {
    case 1:
      return &window_tile<1, P, S>;
    case 2:
      if constexpr (2 * P <= kMaxAccumulators) return &window_tile<2, P, S>;
      break;
    case 3:
      if constexpr (3 * P <= kMaxAccumulators) return &window_tile<3, P, S>;
      break;
    case 4:
      if constexpr (4 * P <= kMaxAccumulators) return &window_tile<4, P, S>;
      break;
  }
  fail(ErrorCode::kInternal, "no window tile for " + std::to_string(blocks) + " blocks");
}

template <int S>
WindowTileFn window_tile_for(int positions, int blocks) {
  switch (positions) {
    case 14:
      if constexpr (kWideRegisters) return window_tile_for_blocks<14, S>(blocks);
      break;
    case 12:
      if constexpr (!kWideRegisters) return window_tile_for_blocks<12, S>(blocks);
      break;
    case 7:
      if constexpr (kWideRegisters) return window_tile_for_blocks<7, S>(blocks);
      break;
    case 6:
      if constexpr (!kWideRegisters) return window_tile_for_blocks<6, S>(blocks);
      break;
    case 4:
      return window_tile_for_blocks<4, S>(blocks);
    case 2:
      return window_tile_for_blocks<2, S>(blocks);
    case 1:
      return window_tile_for_blocks<1, S>(blocks);
  }
  fail(ErrorCode::kInternal, "no window tile for " + std::to_string(positions) + " positions");
}

WindowTileFn window_tile_for(int stride, int positions, int blocks) {
  return stride == 1 ? window_tile_for<1>(positions, blocks)
                     : window_tile_for<2>(positions, blocks);
}

// Multiply-adds per load of the tile's inner step, discounted by the positions recomputed
// where tiles overlap at the end of a row.
double tile_efficiency(int positions, int blocks, int64_t width) {
  const double loads = positions + blocks;
  const double tiles = static_cast<double>(ceil_div(width, positions));
  return positions * blocks / loads * static_cast<double>(width) / (tiles * positions);
}

}  // namespace

int64_t filter_block(DirectConvPath path) {
  return path == DirectConvPath::kWindow ? kLanes : kFlatFilters;
}

DirectConvPath direct_conv_path(const WindowGeometry& g, int64_t groups) {
  if (groups != 1 || g.rank > 2) return DirectConvPath::kNone;
  if (flat_fits(g)) return DirectConvPath::kFlat;
  if (g.stride[1] > 2 || g.stride[1] != g.stride[2]) return DirectConvPath::kNone;
  return DirectConvPath::kWindow;
}

PackedConvWeights pack_conv_weights(int64_t block, const float* weights, const float* bias,
                                    int64_t filters, int64_t channels, int64_t taps) {
  const int64_t padded = ceil_div(filters, block) * block;
  PackedConvWeights packed{Tensor(DType::kFloat32, {padded * channels * taps}),
                           Tensor(DType::kFloat32, {padded})};
  // [filter block][channel][tap][filter in block]; padding filters stay zero.
  float* w = packed.weights.data<float>();
  for (int64_t m = 0; m < filters; ++m)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t t = 0; t < taps; ++t)
        w[((m / block * channels + c) * taps + t) * block + m % block] =
            weights[(m * channels + c) * taps + t];
  if (bias != nullptr) std::copy(bias, bias + filters, packed.bias.data<float>());
  return packed;
}

DirectConv::DirectConv(DirectConvPath path, const WindowGeometry& g, int64_t batch,
                       int64_t channels, int64_t filters)
    : path_(path), g_(g), batch_(batch), channels_(channels), filters_(filters) {
  if (path_ == DirectConvPath::kFlat) {
    flat_ = flat_layout(g_);
    // Whole images per task unless half an image is work enough (then whole tiles), so that
    // tasks seldom copy the same image rows twice.
    const int64_t vector_ops = filters_ * channels_ * flat_.taps * kLanes;
    const int64_t all = batch_ * flat_.vectors;
    const int64_t wanted = std::max<int64_t>(kFlatVectors, kTaskOps / vector_ops);
    const int64_t unit = 2 * wanted >= flat_.vectors ? flat_.vectors : kFlatVectors;
    vectors_per_task_ = std::min(all, ceil_div(wanted, unit) * unit);
    task_count_ = ceil_div(all, vectors_per_task_);
    images_per_task_ = std::min(batch_, (vectors_per_task_ - 1) / flat_.vectors + 2);
    return;
  }
  const int64_t width = g_.out[2];
  const int64_t blocks = ceil_div(filters_, kLanes);
  double best = 0.0;
  for (int positions : kTilePositions) {
    if (positions > width) continue;
    const int tile_blocks = static_cast<int>(std::min<int64_t>(blocks, max_tile_blocks(positions)));
    const double efficiency = tile_efficiency(positions, tile_blocks, width);
    if (efficiency <= best) continue;
    best = efficiency;
    tile_positions_ = positions;
    tile_blocks_ = tile_blocks;
  }
  padded_width_ = g_.in[2] + g_.pad_begin[2] + g_.pad_end[2];
  const int64_t row_ops = filters_ * channels_ * g_.kernel_size() * width;
  rows_per_task_ = std::clamp<int64_t>(ceil_div(kTaskOps, std::max<int64_t>(1, row_ops)), 1,
                                       std::max<int64_t>(1, g_.out[1]));
  task_count_ = batch_ * ceil_div(g_.out[1], rows_per_task_);
  padded_rows_ = (rows_per_task_ - 1) * g_.stride[1] + (g_.kernel[1] - 1) * g_.dilation[1] + 1;
}

int64_t DirectConv::ops_per_task() const {
  if (path_ == DirectConvPath::kFlat)
    return vectors_per_task_ * filters_ * channels_ * flat_.taps * kLanes;
  return rows_per_task_ * filters_ * channels_ * g_.kernel_size() * g_.out[2];
}

size_t DirectConv::masks_bytes() const {
  return static_cast<size_t>(flat_.mask_rows * flat_.vectors) * sizeof(IntVec);
}

size_t DirectConv::image_copy_bytes() const {
  if (flat_.in_place) return 0;
  return static_cast<size_t>(flat_.gap + channels_ * flat_.channel_floats()) * sizeof(float);
}

size_t DirectConv::scratch_bytes() const {
  if (path_ == DirectConvPath::kWindow)
    return static_cast<size_t>(channels_ * padded_rows_ * padded_width_) * sizeof(float);
  return masks_bytes() + images_per_task_ * image_copy_bytes();
}

void DirectConv::prepare_scratch(std::byte* scratch) const {
  // The padding stays zero: copies write only what lies inside the input.
  if (path_ == DirectConvPath::kWindow) {
    std::memset(scratch, 0, scratch_bytes());
    return;
  }
  IntVec* masks = reinterpret_cast<IntVec*>(scratch);
  const int64_t width = g_.out[2];
  for (int row = 0; row < flat_.mask_rows; ++row) {
    int64_t column = 0;  // of position v * kLanes + lane in its output row
    for (int64_t v = 0; v < flat_.vectors; ++v)
      for (int lane = 0; lane < kLanes; ++lane) {
        const int64_t shifted = column + flat_.mask_shift[row];
        masks[row * flat_.vectors + v][lane] = shifted >= 0 && shifted < width ? -1 : 0;
        if (++column == width) column = 0;
      }
  }
  std::memset(scratch + masks_bytes(), 0, scratch_bytes() - masks_bytes());
}

void DirectConv::run_task(int64_t task, const float* x, const PackedConvWeights& packed,
                          const float* z, const Activation& activation, float* y,
                          std::byte* scratch) const {
  if (path_ == DirectConvPath::kFlat) {
    activation.visit([&](auto op) { run_flat_task(task, x, packed, z, op, y, scratch); });
    return;
  }
  const int64_t row_tasks = task_count_ / batch_;
  const int64_t n = task / row_tasks;
  const int64_t begin = task % row_tasks * rows_per_task_;
  const int64_t end = std::min(g_.out[1], begin + rows_per_task_);
  const int64_t out_image = filters_ * g_.out_size();
  run_window_rows(x + n * channels_ * g_.in_size(), packed,
                  z == nullptr ? nullptr : z + n * out_image, activation, y + n * out_image, begin,
                  end, scratch);
}

void DirectConv::copy_phases(const float* image, int64_t position_begin, int64_t position_end,
                             float* phases) const {
  const int64_t width = g_.out[2];
  const int64_t row_begin = position_begin / width;
  const int64_t row_end = (position_end - 1) / width + 1;
  // Unit strides over whole rows: the rows a task reads are one block in the input and in the
  // phase, the rows past the input's end zero.
  const bool block = g_.stride[1] == 1 && g_.stride[2] == 1 && width == g_.in[2];
  const bool stride2_rows = stride2_rows_fit(g_);
  for (int64_t c = 0; c < channels_; ++c) {
    const float* in = image + c * g_.in_size();
    for (int q = 0; q < flat_.phases; ++q) {
      float* phase =
          phases + flat_.gap + c * flat_.channel_floats() + q * (flat_.gap + flat_.plane);
      const int64_t a = flat_.phase_row[q];
      const int64_t b = flat_.phase_column[q];
      // Columns j of the phase whose input column j * stride + b exists.
      const int64_t inside = std::clamp<int64_t>(ceil_div(g_.in[2] - b, g_.stride[2]), 0, width);
      const int64_t begin = std::max<int64_t>(0, row_begin + flat_.first_row[q]);
      const int64_t end = std::min(g_.out[1], row_end + flat_.last_row[q]);
      if (stride2_rows) {
        copy_stride2_phase_rows(g_, in, a, b, begin, end, phase);
        continue;
      }
      if (block && b == 0) {
        const int64_t copied_end = std::max(begin, std::min(end, g_.in[1] - a));
        std::memcpy(phase + begin * width, in + (begin + a) * width,
                    static_cast<size_t>((copied_end - begin) * width) * sizeof(float));
        std::fill(phase + copied_end * width, phase + std::max(copied_end, end) * width, 0.0f);
        continue;
      }
      for (int64_t i = begin; i < end; ++i) {
        float* dst = phase + i * width;
        const int64_t row = i * g_.stride[1] + a;
        const int64_t copied = row < g_.in[1] ? inside : 0;
        if (copied > 0) copy_strided(dst, in + row * g_.in[2] + b, copied, g_.stride[2]);
        std::fill(dst + copied, dst + width, 0.0f);
      }
    }
  }
}

// A task takes vectors [first, last) of the batch's planes, in tiles of kFlatVectors that
// may span images, and the remainder of every image whose last vector it takes.
template <typename Op>
void DirectConv::run_flat_task(int64_t task, const float* x, const PackedConvWeights& packed,
                               const float* z, Op activation, float* y, std::byte* scratch) const {
  const int64_t vectors = flat_.vectors;
  const int64_t first = task * vectors_per_task_;
  const int64_t last = std::min(batch_ * vectors, first + vectors_per_task_);
  const int64_t first_image = first / vectors;
  const int64_t in_image = channels_ * g_.in_size();
  const int64_t out_image = filters_ * flat_.plane;
  const IntVec* masks = reinterpret_cast<const IntVec*>(scratch);
  float* copies = reinterpret_cast<float*>(scratch + masks_bytes());
  const int64_t copy_floats = static_cast<int64_t>(image_copy_bytes() / sizeof(float));
  auto takes_remainder = [&](int64_t n) {
    return flat_.plane % kLanes != 0 && last >= (n + 1) * vectors;
  };
  // Phase plane 0 of channel 0 of image n, at position 0.
  auto input_of = [&](int64_t n) -> const float* {
    if (flat_.in_place) return x + n * in_image;
    return copies + (n - first_image) * copy_floats + flat_.gap;
  };
  FlatArgs args{};
  args.channel_stride = flat_.in_place ? g_.in_size() : flat_.channel_floats();
  args.channels = channels_;
  args.layout = &flat_;
  args.plane = flat_.plane;
  for (int64_t n = first_image; n * vectors < last; ++n) {
    if (flat_.in_place) break;
    const int64_t begin = std::max(first, n * vectors) - n * vectors;
    const int64_t end = std::min(last, (n + 1) * vectors) - n * vectors;
    copy_phases(x + n * in_image, begin * kLanes, takes_remainder(n) ? flat_.plane : end * kLanes,
                copies + (n - first_image) * copy_floats);
  }
  const int64_t block_floats = channels_ * flat_.taps * kFlatFilters;
  const bool masked = flat_.mask_rows > 1;
  for (int64_t s = first; s < last; s += kFlatVectors) {
    const int count = static_cast<int>(std::min<int64_t>(kFlatVectors, last - s));
    // Where each vector of the tile lies, once for all filter blocks (the divisions cost as
    // much as a narrow tile's arithmetic).
    std::array<int64_t, kFlatVectors> first_output{};
    for (int v = 0; v < count; ++v) {
      const int64_t n = (s + v) / vectors;
      const int64_t position = (s + v) % vectors * kLanes;
      first_output[v] = n * out_image + position;
      args.input[v] = input_of(n) + position;
      args.masks[v] = masks + position / kLanes;
    }
    for (int64_t m = 0; m < filters_; m += kFlatFilters) {
      for (int v = 0; v < count; ++v) {
        const int64_t at = first_output[v] + m * flat_.plane;
        args.output[v] = y + at;
        args.z[v] = z == nullptr ? nullptr : z + at;
      }
      args.weights = packed.weights.data<float>() + m / kFlatFilters * block_floats;
      args.bias = packed.bias.data<float>() + m;
      args.filters = std::min<int64_t>(kFlatFilters, filters_ - m);
      if (masked) {
        run_flat_tile<true>(count, args, activation);
      } else {
        run_flat_tile<false>(count, args, activation);
      }
    }
  }
  for (int64_t n = first_image; n * vectors < last; ++n) {
    if (!takes_remainder(n)) continue;
    args.input[0] = input_of(n);
    args.output[0] = y + n * out_image;
    args.z[0] = z == nullptr ? nullptr : z + n * out_image;
    args.weights = packed.weights.data<float>();
    args.bias = packed.bias.data<float>();
    args.filters = filters_;
    flat_remainder(args, g_.out[2], vectors * kLanes, flat_.plane, activation);
  }
}

void DirectConv::copy_padded_rows(const float* image, int64_t row_begin, int64_t row_end,
                                  float* padded) const {
  const int64_t first_input_row = row_begin * g_.stride[1] - g_.pad_begin[1];
  const int64_t rows =
      (row_end - row_begin - 1) * g_.stride[1] + (g_.kernel[1] - 1) * g_.dilation[1] + 1;
  const int64_t width = g_.in[2];
  for (int64_t c = 0; c < channels_; ++c) {
    const float* plane = image + c * g_.in_size();
    float* dst = padded + c * padded_rows_ * padded_width_ + g_.pad_begin[2];
    for (int64_t r = 0; r < rows; ++r, dst += padded_width_) {
      const int64_t ih = first_input_row + r;
      if (ih < 0 || ih >= g_.in[1]) {
        std::fill(dst, dst + width, 0.0f);
      } else {
        copy_strided(dst, plane + ih * width, width, 1);
      }
    }
  }
}

void DirectConv::run_window_rows(const float* x, const PackedConvWeights& packed, const float* z,
                                 const Activation& activation, float* y, int64_t row_begin,
                                 int64_t row_end, std::byte* scratch) const {
  float* padded = reinterpret_cast<float*>(scratch);
  copy_padded_rows(x, row_begin, row_end, padded);
  const int64_t width = g_.out[2];
  const int64_t plane = g_.out_size();
  const int64_t stride = g_.stride[2];
  const int positions = tile_positions_;
  const int64_t blocks = ceil_div(filters_, kLanes);
  const int64_t block_stride = channels_ * g_.kernel_size() * kLanes;
  alignas(64) float tile[kMaxAccumulators * kLanes];
  WindowArgs args{nullptr,        padded_rows_ * padded_width_,
                  channels_,      g_.kernel[1],
                  g_.kernel[2],   g_.dilation[1] * padded_width_,
                  g_.dilation[2], nullptr,
                  block_stride,   nullptr};
  activation.visit([&](auto op) {
    for (int64_t b0 = 0; b0 < blocks; b0 += tile_blocks_) {
      const int tile_blocks = static_cast<int>(std::min<int64_t>(tile_blocks_, blocks - b0));
      const WindowTileFn run_tile =
          window_tile_for(static_cast<int>(stride), positions, tile_blocks);
      const int64_t filters = std::min(filters_ - b0 * kLanes, int64_t{tile_blocks} * kLanes);
      args.weights = packed.weights.data<float>() + b0 * block_stride;
      args.bias = packed.bias.data<float>() + b0 * kLanes;
      for (int64_t oh = row_begin; oh < row_end; ++oh) {
        const float* row = padded + (oh - row_begin) * g_.stride[1] * padded_width_;
        for (int64_t ow = 0; ow < width; ow += positions) {
          const int64_t start = std::min(ow, width - positions);
          args.input = row + start * stride;
          run_tile(args, tile);
          const int64_t at = b0 * kLanes * plane + oh * width + start;
          store_window_tile(tile, positions, filters, z == nullptr ? nullptr : z + at, y + at,
                            plane, op);
        }
      }
    }
  });
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
