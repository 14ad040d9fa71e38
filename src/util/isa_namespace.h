// The namespace of code compiled once per kernel path. src/CMakeLists.txt compiles each
// QSIM_ISA_SOURCES file once per path with that path's flags and QSIM_ISA_NS set to
// isa_baseline, isa_avx2 or isa_avx512, so that every function, class and template
// instantiation it defines has a name of its own per path: the linker can then never merge an
// AVX-512 copy of a kernel into the AVX2 path. Headers of such code (simd.h, the kernel
// headers) open `namespace qsim::QSIM_ISA_NS`.
#pragma once

#ifndef QSIM_ISA_NS
// A file compiled once, with the build's own flags (tests and tools that use a kernel header
// directly): its kernels are of no path, and run anywhere the build runs.
#define QSIM_ISA_NS isa_build
#endif
