#include "runtime/ops/depthwise.h"

#include <array>
#include <limits>
#include <type_traits>
#include <utility>

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

// The padded element tap (kd, kh, kw) of the first output position reads.
SpatialDims tap_reach(const WindowGeometry& g, int64_t kd, int64_t kh, int64_t kw) {
  return {kd * g.dilation[0], kh * g.dilation[1], kw * g.dilation[2]};
}

// Where padded element `e` lives: its phase, and its offset within the phase (returned).
int64_t offset_in_phase(const WindowGeometry& g, const SpatialDims& pitch, const SpatialDims& e,
                        int64_t* phase) {
  const SpatialDims& s = g.stride;
  *phase = ((e[0] % s[0]) * s[1] + e[1] % s[1]) * s[2] + e[2] % s[2];
  return ((e[0] / s[0]) * pitch[1] + e[1] / s[1]) * pitch[2] + e[2] / s[2];
}

}  // namespace

size_t PlaneLayout::positions_offset() const {
  return round_to_line(taps * sizeof(int64_t));
}

size_t PlaneLayout::phases_offset() const {
  return positions_offset() + round_to_line(inputs * sizeof(int32_t));
}

size_t PlaneLayout::grid_offset() const {
  return phases_offset() + round_to_line((phase_count * phase_size + 1) * element_size);
}

PlaneLayout plane_layout(const WindowGeometry& g, size_t element_size) {
  PlaneLayout layout;
  layout.element_size = element_size;
  layout.taps = g.kernel_size();
  layout.inputs = g.in_size();
  layout.phase_count = 1;
  for (int d = 0; d < kMaxSpatialRank; ++d) {
    const int64_t padded = (g.out[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d] + 1;
    layout.pitch[d] = ceil_div(padded, g.stride[d]);
    layout.phase_count *= g.stride[d];
  }
  const SpatialDims& p = layout.pitch;
  const int64_t grid = ((g.out[0] - 1) * p[1] + g.out[1]) * p[2];
  layout.grid_size = ceil_div(grid, kGridBlock) * kGridBlock;
  int64_t phase = 0;
  const int64_t last_tap = offset_in_phase(
      g, p, tap_reach(g, g.kernel[0] - 1, g.kernel[1] - 1, g.kernel[2] - 1), &phase);
  layout.phase_size = std::max(p[0] * p[1] * p[2], last_tap + layout.grid_size);
  return layout;
}

int64_t plane_task_ops(const WindowGeometry& g, const PlaneLayout& layout) {
  // Moving an element in or out of the phases costs about as much as this many of the
  // vectorized tap operations.
  constexpr int64_t kElementMoveCost = 16;
  return layout.taps * layout.grid_size + kElementMoveCost * (g.in_size() + g.out_size());
}

void write_plane_tables(const WindowGeometry& g, const PlaneLayout& layout, std::byte* scratch) {
  int64_t* offsets = reinterpret_cast<int64_t*>(scratch);
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        int64_t phase = 0;
        const int64_t offset = offset_in_phase(g, layout.pitch, tap_reach(g, kd, kh, kw), &phase);
        *offsets++ = phase * layout.phase_size + offset;
      }
  if (g.in[2] >= kMinCopiedRowWidth) return;  // split row by row, without the table
  // Input elements past the phases' extent are read by no tap: they go to the spare element.
  const int64_t spare = layout.phase_count * layout.phase_size;
  int32_t* positions = reinterpret_cast<int32_t*>(scratch + layout.positions_offset());
  for (int64_t id = 0; id < g.in[0]; ++id)
    for (int64_t ih = 0; ih < g.in[1]; ++ih)
      for (int64_t iw = 0; iw < g.in[2]; ++iw) {
        const SpatialDims e = {id + g.pad_begin[0], ih + g.pad_begin[1], iw + g.pad_begin[2]};
        bool read = true;
        for (int d = 0; d < kMaxSpatialRank; ++d)
          read = read && e[d] / g.stride[d] < layout.pitch[d];
        int64_t phase = 0;
        const int64_t offset = offset_in_phase(g, layout.pitch, e, &phase);
        *positions++ = static_cast<int32_t>(read ? phase * layout.phase_size + offset : spare);
      }
}

void depthwise_conv_plane(const WindowGeometry& g, const PlaneLayout& layout, const float* in_plane,
                          const float* weights, float bias, std::byte* scratch, float* out_plane) {
  const int64_t width = g.out[2];
  window_plane(
      g, layout, in_plane, bias,
      [weights](int64_t tap) {
        const float weight = weights[tap];
        return [weight](auto& acc, const auto& x) {
          using V = std::decay_t<decltype(acc)>;
          multiply_add(acc, x, V{} + weight);
        };
      },
      [&](int64_t row, const float* grid_row) {
        copy_strided(out_plane + row * width, grid_row, width, 1);
      },
      scratch);
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

using Vec = Simd<float>::type;
typedef int32_t IntVec __attribute__((vector_size(sizeof(Vec))));
constexpr int kLanes = sizeof(Vec) / sizeof(float);
static_assert(kLanes == BlockedWindow::kBlock);

// Shuffle masks of one transpose stage: rows i and i + M exchange their blocks of M lanes.
// Plain arrays, not vectors: a function returning a 64-byte vector would change the ABI on
// machines without AVX-512.
template <int M>
constexpr std::array<int32_t, kLanes> low_half() {
  std::array<int32_t, kLanes> mask{};
  for (int l = 0; l < kLanes; ++l) mask[l] = (l & M) ? kLanes + l - M : l;
  return mask;
}
template <int M>
constexpr std::array<int32_t, kLanes> high_half() {
  std::array<int32_t, kLanes> mask{};
  for (int l = 0; l < kLanes; ++l) mask[l] = (l & M) ? kLanes + l : l + M;
  return mask;
}

#if defined(__clang__)
// Clang has no __builtin_shuffle; __builtin_shufflevector takes the same lanes as constants.
template <int M, size_t... L>
[[gnu::always_inline]] inline void transpose_pair(Vec& a_row, Vec& b_row,
                                                  std::index_sequence<L...>) {
  static constexpr std::array<int32_t, kLanes> kLow = low_half<M>(), kHigh = high_half<M>();
  const Vec a = a_row, b = b_row;
  a_row = __builtin_shufflevector(a, b, kLow[L]...);
  b_row = __builtin_shufflevector(a, b, kHigh[L]...);
}
#endif

template <int M>
[[gnu::always_inline]] inline void transpose_stage(Vec (&rows)[kLanes]) {
#if defined(__clang__)
  for (int i = 0; i < kLanes; ++i)
    if (!(i & M)) transpose_pair<M>(rows[i], rows[i + M], std::make_index_sequence<kLanes>());
#else
  static constexpr std::array<int32_t, kLanes> kLow = low_half<M>(), kHigh = high_half<M>();
  IntVec low, high;
  std::memcpy(&low, kLow.data(), sizeof low);
  std::memcpy(&high, kHigh.data(), sizeof high);
#pragma GCC unroll 16
  for (int i = 0; i < kLanes; ++i) {
    if (i & M) continue;
    const Vec a = rows[i], b = rows[i + M];
    rows[i] = __builtin_shuffle(a, b, low);
    rows[i + M] = __builtin_shuffle(a, b, high);
  }
#endif
}

#if defined(__AVX2__) && !defined(__AVX512F__)
// An 8x8 transpose in ymm registers (unpack, shuffle, 128-bit permute): GCC lowers the
// 64-byte two-input shuffles of transpose_stage to long sequences on AVX2, and 16 rows of 64
// bytes do not fit AVX2's registers, so the AVX2 path moves the block as four of these.
[[gnu::always_inline]] inline void transpose8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

#else
// rows[i][j] <-> rows[j][i].
[[gnu::always_inline]] inline void transpose(Vec (&rows)[kLanes]) {
  transpose_stage<8>(rows);
  transpose_stage<4>(rows);
  transpose_stage<2>(rows);
  transpose_stage<1>(rows);
}
#endif

// PW outputs of a row, S positions apart in the padded block, into `results`: the max of
// the taps (NaN skipped), or bias + the taps times their weights. One register-wide part of
// the 16 channels at a time, so that the accumulators stay in registers on every path.
template <int PW, int S, bool kMax>
void reduce_segment(const WindowGeometry& g, int64_t padded_width, const float* origin,
                    const float* weights, const float* bias, float* results) {
  using R = RegisterVector;
  for (int part = 0; part < kRegisterParts; ++part) {
    const int64_t lane = part * kRegisterLanes;
    R acc[PW];
    for (int j = 0; j < PW; ++j)
      acc[j] = kMax ? splat<R>(std::numeric_limits<float>::lowest()) : load<R>(bias + lane);
    const float* w = weights + lane;
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        R wv = {};
        if constexpr (!kMax) {
          wv = load<R>(w);
          w += kLanes;
        }
        const float* src =
            origin + (kh * g.dilation[1] * padded_width + kw * g.dilation[2]) * kLanes + lane;
        for (int j = 0; j < PW; ++j) {
          const R x = load<R>(src + j * S * kLanes);
          if constexpr (kMax) {
            acc[j] = x > acc[j] ? x : acc[j];
          } else {
            multiply_add(acc[j], x, wv);
          }
        }
      }
    for (int j = 0; j < PW; ++j) std::memcpy(results + j * kLanes + lane, &acc[j], sizeof(R));
  }
}

using SegmentFn = void (*)(const WindowGeometry&, int64_t, const float*, const float*, const float*,
                           float*);

constexpr int kMaxSegment = 8;

template <int S, bool kMax>
SegmentFn segment_for(int positions) {
  switch (positions) {
    case 1:
      return &reduce_segment<1, S, kMax>;
    case 2:
      return &reduce_segment<2, S, kMax>;
    case 3:
      return &reduce_segment<3, S, kMax>;
    case 4:
      return &reduce_segment<4, S, kMax>;
    case 5:
      return &reduce_segment<5, S, kMax>;
    case 6:
      return &reduce_segment<6, S, kMax>;
    case 7:
      return &reduce_segment<7, S, kMax>;
    default:
      return &reduce_segment<kMaxSegment, S, kMax>;
  }
}

// Starts of the 16-element chunks of [0, n) (n >= 16), the last moved back to end on n.
int64_t chunk_start(int64_t n, int64_t k) {
  return std::min(k * kLanes, n - kLanes);
}

}  // namespace

bool BlockedWindow::fits(const WindowGeometry& g) {
  return g.rank <= 2 && g.in_size() >= kLanes && g.out_size() >= kLanes &&
         g.stride[1] == g.stride[2] && g.stride[1] <= 2;
}

// The padded block covers every tap of every window, also those a ceil_mode pool's last
// window reaches past the end padding.
BlockedWindow::BlockedWindow(const WindowGeometry& g)
    : g_(g),
      padded_height_(
          std::max(g.in[1] + g.pad_begin[1] + g.pad_end[1],
                   g.input_index(1, g.out[1] - 1, g.kernel[1] - 1) + g.pad_begin[1] + 1)),
      padded_width_(
          std::max(g.in[2] + g.pad_begin[2] + g.pad_end[2],
                   g.input_index(2, g.out[2] - 1, g.kernel[2] - 1) + g.pad_begin[2] + 1)) {}

size_t BlockedWindow::padded_bytes() const {
  return static_cast<size_t>(padded_height_ * padded_width_ * kLanes) * sizeof(float);
}

size_t BlockedWindow::scratch_bytes() const {
  return padded_bytes() + static_cast<size_t>(g_.out_size() * kLanes) * sizeof(float);
}

void BlockedWindow::prepare_scratch(float pad, std::byte* scratch) const {
  float* padded = reinterpret_cast<float*>(scratch);
  std::fill(padded, padded + padded_height_ * padded_width_ * kLanes, pad);
}

void BlockedWindow::transpose_in(const float* x, int64_t count, float* padded) const {
  const int64_t plane = g_.in_size();
  const int64_t width = g_.in[2];
  // Stores `n` vectors of the lanes from `c0` for the input positions from `p`, one position
  // at a time, stepping row and column (no division per position).
  const auto store_positions = [&](int64_t p, int64_t c0, int64_t n, auto&& store) {
    int64_t ih = p / width, iw = p % width;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t at = (ih + g_.pad_begin[1]) * padded_width_ + iw + g_.pad_begin[2];
      store(j, padded + at * kLanes + c0);
      if (++iw == width) {
        iw = 0;
        ++ih;
      }
    }
  };
  for (int64_t k = 0; k * kLanes < plane; ++k) {
    const int64_t start = chunk_start(plane, k);
#if defined(__AVX2__) && !defined(__AVX512F__)
    // Four 8x8 blocks straight from the input to the block, each in ymm registers: a 16x16
    // array of 64-byte vectors does not fit AVX2's 16 registers and goes through memory.
    for (int64_t c0 = 0; c0 < kLanes; c0 += 8)
      for (int64_t p0 = 0; p0 < kLanes; p0 += 8) {
        __m256 r[8];
        for (int64_t i = 0; i < 8; ++i)
          r[i] = c0 + i < count ? _mm256_loadu_ps(x + (c0 + i) * plane + start + p0)
                                : _mm256_setzero_ps();
        transpose8(r);
        store_positions(start + p0, c0, 8,
                        [&](int64_t j, float* to) { _mm256_storeu_ps(to, r[j]); });
      }
#else
    Vec rows[kLanes];
    for (int64_t c = 0; c < count; ++c) std::memcpy(&rows[c], x + c * plane + start, sizeof(Vec));
    for (int64_t c = count; c < kLanes; ++c) rows[c] = Vec{};
    transpose(rows);
    store_positions(start, 0, kLanes,
                    [&](int64_t j, float* to) { std::memcpy(to, &rows[j], sizeof(Vec)); });
#endif
  }
}

template <bool kMax>
void BlockedWindow::reduce_windows(const float* padded, const float* weights, const float* bias,
                                   float* results) const {
  const int64_t width = g_.out[2];
  const int positions = static_cast<int>(std::min<int64_t>(kMaxSegment, width));
  const SegmentFn segment =
      g_.stride[1] == 1 ? segment_for<1, kMax>(positions) : segment_for<2, kMax>(positions);
  for (int64_t oh = 0; oh < g_.out[1]; ++oh) {
    const float* row = padded + oh * g_.stride[1] * padded_width_ * kLanes;
    for (int64_t ow = 0; ow < width; ow += positions) {
      const int64_t start = std::min(ow, width - positions);
      segment(g_, padded_width_, row + start * g_.stride[2] * kLanes, weights, bias,
              results + (oh * width + start) * kLanes);
    }
  }
}

void BlockedWindow::transpose_out(const float* results, int64_t count, const Activation& activation,
                                  float* y) const {
  const int64_t plane = g_.out_size();
  activation.visit([&](auto op) {
    for (int64_t k = 0; k * kLanes < plane; ++k) {
      const int64_t start = chunk_start(plane, k);
#if defined(__AVX2__) && !defined(__AVX512F__)
      // As transpose_in: 8x8 blocks in ymm registers.
      for (int64_t c0 = 0; c0 < count; c0 += 8)
        for (int64_t p0 = 0; p0 < kLanes; p0 += 8) {
          __m256 r[8];
          for (int64_t i = 0; i < 8; ++i)
            r[i] = _mm256_loadu_ps(results + (start + p0 + i) * kLanes + c0);
          transpose8(r);
          for (int64_t c = 0; c < 8 && c0 + c < count; ++c) {
            op(r[c]);
            _mm256_storeu_ps(y + (c0 + c) * plane + start + p0, r[c]);
          }
        }
#else
      Vec rows[kLanes];
      for (int j = 0; j < kLanes; ++j)
        std::memcpy(&rows[j], results + (start + j) * kLanes, sizeof(Vec));
      transpose(rows);
      for (int64_t c = 0; c < count; ++c) {
        op(rows[c]);
        std::memcpy(y + c * plane + start, &rows[c], sizeof(Vec));
      }
#endif
    }
  });
}

void BlockedWindow::run_depthwise(const float* x, int64_t count, const float* weights,
                                  const float* bias, const Activation& activation,
                                  std::byte* scratch, float* y) const {
  float* padded = reinterpret_cast<float*>(scratch);
  float* sums = reinterpret_cast<float*>(scratch + padded_bytes());
  transpose_in(x, count, padded);
  reduce_windows<false>(padded, weights, bias, sums);
  transpose_out(sums, count, activation, y);
}

void BlockedWindow::run_max(const float* x, int64_t count, std::byte* scratch, float* y) const {
  float* padded = reinterpret_cast<float*>(scratch);
  float* maxima = reinterpret_cast<float*>(scratch + padded_bytes());
  transpose_in(x, count, padded);
  reduce_windows<true>(padded, nullptr, nullptr, maxima);
  transpose_out(maxima, count, Activation{}, y);
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
