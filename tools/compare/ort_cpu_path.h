/* Which integer arithmetic ONNX Runtime's x86-64 U8S8 kernels use on the CPU this runs on,
   decided from CPUID the way MLAS picks its kernels (onnxruntime/core/mlas/lib/platform.cpp;
   docs/ORT_AVX2.md): without AVX2 and FMA, the SSE4.1 kernels (exact); with them, the AVX2
   kernels (VPMADDUBSW: "ort-avx2"), unless AVX-VNNI replaces them (exact); then, when the OS
   saves AVX-512 state and the CPU has AVX512F, BW, DQ and VL, the AVX512 core kernels
   (VPMADDUBSW again: "ort-avx2"), unless AVX512-VNNI replaces them (exact).
   Plain C with no dependencies, so the same file also builds the small qsim_ort_cpu_path
   tool for generic x86-64, which runs under qemu-x86_64 -cpu NAME to see that CPU's CPUID. */
#ifndef QSIM_TOOLS_ORT_CPU_PATH_H
#define QSIM_TOOLS_ORT_CPU_PATH_H

#ifdef __cplusplus
extern "C" {
#endif

/* "exact" or "ort-avx2" (qsim's integer arithmetic names). */
const char* qsim_ort_cpu_arithmetic(void);

#ifdef __cplusplus
}
#endif

#endif
