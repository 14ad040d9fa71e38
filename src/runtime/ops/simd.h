// The vector types and the few vector operations the direct kernels share (conv_direct,
// depthwise, pool): GCC/Clang vector extensions of 64 bytes, AVX-512 where the kernel path
// targets it and the same arithmetic on narrower registers elsewhere. Compiled once per kernel
// path (util/isa_namespace.h): __AVX512F__ and __FMA__ say which path this copy is.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "util/isa_namespace.h"

#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace qsim {
namespace QSIM_ISA_NS {

// 64-byte vectors (GCC/Clang vector extensions) for the tap loops: written plainly, the
// compiler vectorizes those across taps with gathers instead of keeping a block in registers.
template <typename T>
struct Simd;
template <>
struct Simd<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct Simd<uint8_t> {
  typedef uint8_t type __attribute__((vector_size(64)));
};
template <>
struct Simd<int8_t> {
  typedef int8_t type __attribute__((vector_size(64)));
};

// acc += a * b for the convolution kernels, rounded once (FMA) when the build targets a CPU
// with FMA (the avx2 and avx512 paths), as OpenBLAS's sgemm kernels do there, else twice. Only
// these products fuse: the build keeps -ffp-contract=off, so fused epilogues still compute the
// standalone activation ops' bits. For floats and 16-, 32- and 64-byte float vectors (by reference:
// see window_plane).
template <typename V>
inline void multiply_add(V& acc, const V& a, const V& b) {
#if defined(__FMA__)
  if constexpr (sizeof(V) == sizeof(float)) {
    acc = std::fma(a, b, acc);
  } else if constexpr (sizeof(V) == 16) {
    acc = (V)_mm_fmadd_ps((__m128)a, (__m128)b, (__m128)acc);
  } else if constexpr (sizeof(V) == 32) {
    acc = (V)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)acc);
  } else {
    static_assert(sizeof(V) == 64);
#if defined(__AVX512F__)
    acc = (V)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)acc);
#else
    __m256 a2[2], b2[2], sum[2];
    std::memcpy(a2, &a, 64);
    std::memcpy(b2, &b, 64);
    std::memcpy(sum, &acc, 64);
    for (int i = 0; i < 2; ++i) sum[i] = _mm256_fmadd_ps(a2[i], b2[i], sum[i]);
    std::memcpy(&acc, sum, 64);
#endif
  }
#else
  acc += a * b;
#endif
}

// A 64-byte float vector from and to memory (any alignment), and one value in every lane.
using FloatVector = Simd<float>::type;
inline FloatVector load_vector(const float* p) {
  FloatVector v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_vector(float* p, const FloatVector& v) {
  std::memcpy(p, &v, sizeof v);
}
// Not V{} + x: that adds to +0.0 (turning -0.0 into +0.0) before broadcasting, and the
// compiler cannot fold it into a multiply-add's memory operand. For any float vector type.
template <typename V = FloatVector>
inline V splat(float x) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) return (V)_mm512_set1_ps(x);
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) return (V)_mm256_set1_ps(x);
#endif
#if defined(__SSE__)
  if constexpr (sizeof(V) == 16) return (V)_mm_set1_ps(x);
#endif
  V v;
  for (int i = 0; i < static_cast<int>(sizeof(V) / sizeof(float)); ++i) v[i] = x;
  return v;
}

// A float vector of any width from memory (any alignment).
template <typename V>
inline V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The widest float vector the path keeps in one register (AVX-512: 64 bytes, AVX2: 32, SSE2:
// 16), and how many of them make a 64-byte FloatVector. Tiles that would hold more 64-byte
// vectors than the path has registers work on these parts instead (GCC also lowers ?:, min
// and max on vectors wider than the registers one lane at a time).
#if defined(__AVX512F__)
constexpr int kRegisterBytes = 64;
#elif defined(__AVX__)
constexpr int kRegisterBytes = 32;
#else
constexpr int kRegisterBytes = 16;
#endif
typedef float RegisterVector __attribute__((vector_size(kRegisterBytes)));
constexpr int kRegisterLanes = kRegisterBytes / sizeof(float);
constexpr int kRegisterParts = sizeof(FloatVector) / sizeof(RegisterVector);

// Keeps `v` in a register: without this the compiler may fold a vector used several times
// into each multiply-add as a memory operand, loading it again each time (from L2 when the
// operand matrix does not fit L1).
inline void in_register([[maybe_unused]] FloatVector& v) {
#if defined(__AVX512F__)
  asm("" : "+v"(v));
#endif
}

#if defined(__AVX512F__)
// The first `count` lanes of a 16-lane vector (none for count <= 0), for masked loads and
// stores of a row's end.
inline __mmask16 first_lanes(int64_t count) {
  if (count <= 0) return 0;
  return count >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << count) - 1);
}

// Lane j picks element 2j + odd of the 32 in (low, high): a row's even or odd columns.
inline __m512 every_other(__m512 low, __m512 high, int odd) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(low, _mm512_add_epi32(even, _mm512_set1_epi32(odd)), high);
}
#elif defined(__AVX2__)
// The first `count` lanes of an 8-lane vector (none for count <= 0), as the mask of
// _mm256_maskload_ps / _mm256_maskstore_ps.
inline __m256i first_lanes(int64_t count) {
  const int32_t n = static_cast<int32_t>(std::clamp<int64_t>(count, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Lane j picks element 2j + odd of the 16 in (low, high): a row's even or odd columns.
inline __m256 every_other(__m256 low, __m256 high, int odd) {
  const __m256i from_low =
      _mm256_add_epi32(_mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0), _mm256_set1_epi32(odd));
  const __m256i from_high =
      _mm256_add_epi32(_mm256_setr_epi32(0, 0, 0, 0, 0, 2, 4, 6), _mm256_set1_epi32(odd));
  return _mm256_blend_ps(_mm256_permutevar8x32_ps(low, from_low),
                         _mm256_permutevar8x32_ps(high, from_high), 0xF0);
}
#endif

}  // namespace QSIM_ISA_NS
}  // namespace qsim
