#include "ort_cpu_path.h"

#include <cpuid.h>
#include <stdint.h>

/* Bits MLAS tests (platform.cpp, MLAS_PLATFORM::MLAS_PLATFORM). */
#define LEAF1_ECX_FMA (1u << 12)
#define LEAF1_ECX_OSXSAVE (1u << 27)
#define LEAF1_ECX_AVX (1u << 28)
#define LEAF7_EBX_AVX2 (1u << 5)
#define LEAF7_EBX_AVX512F (1u << 16)
#define LEAF7_EBX_AVX512_CORE ((1u << 17) | (1u << 30) | (1u << 31)) /* DQ, BW, VL */
#define LEAF7_ECX_AVX512_VNNI (1u << 11)
#define LEAF7_1_EAX_AVX_VNNI (1u << 4)

static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

const char* qsim_ort_cpu_arithmetic(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return "exact";
  const unsigned leaf1_ecx = c;
  /* MLAS uses its AVX kernels only when the OS saves the YMM state. */
  if ((leaf1_ecx & (LEAF1_ECX_OSXSAVE | LEAF1_ECX_AVX)) != (LEAF1_ECX_OSXSAVE | LEAF1_ECX_AVX))
    return "exact";
  const uint64_t xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return "exact";
  if (__get_cpuid_max(0, 0) < 7) return "exact";
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned leaf7_ebx = b, leaf7_ecx = c;
  if ((leaf1_ecx & LEAF1_ECX_FMA) == 0 || (leaf7_ebx & LEAF7_EBX_AVX2) == 0) return "exact";
  __cpuid_count(7, 1, a, b, c, d);
  const char* arithmetic = (a & LEAF7_1_EAX_AVX_VNNI) != 0 ? "exact" : "ort-avx2";
  if ((leaf7_ebx & LEAF7_EBX_AVX512F) != 0 && (xcr0 & 0xE0) == 0xE0 &&
      (leaf7_ebx & LEAF7_EBX_AVX512_CORE) == LEAF7_EBX_AVX512_CORE)
    arithmetic = (leaf7_ecx & LEAF7_ECX_AVX512_VNNI) != 0 ? "exact" : "ort-avx2";
  return arithmetic;
}

#ifdef QSIM_ORT_CPU_PATH_MAIN
#include <stdio.h>

/* Prints the arithmetic of this CPU (or of the one qemu-x86_64 -cpu NAME presents). */
int main(void) {
  puts(qsim_ort_cpu_arithmetic());
  return 0;
}
#endif
