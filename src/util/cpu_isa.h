// Which instruction-set path the kernels take on this CPU. One binary runs on every x86-64
// CPU: the hot kernels are compiled once per path (cmake/kernel_paths.cmake, docs/KERNEL_PATHS.md)
// and the path is chosen at run time from CPUID, as OpenBLAS, oneDNN and ONNX Runtime's MLAS do.
// The environment variable QSIM_MAX_ISA (baseline, avx2, avx512; like oneDNN's ONEDNN_MAX_CPU_ISA)
// caps the choice, so every path can be tested and measured on one machine.
//
// The choice is made once per process, from facts that never change while it runs (the CPU,
// and the environment as the process found it); nothing can set it afterwards.
#pragma once

#include <string>

namespace qsim {

// Ordered: a path may use everything the ones before it use.
enum class Isa {
  kBaseline = 0,  // x86-64 (SSE2), or any other architecture: portable C++ only
  kAvx2 = 1,      // AVX2 + FMA (+ BMI1/2, F16C, LZCNT): x86-64-v3, Haswell and Zen 1 on
  kAvx512 = 2,    // AVX-512 F/BW/DQ/VL/CD: x86-64-v4, Skylake-X, Ice Lake, Zen 4 on
};

// "baseline", "avx2", "avx512": what QSIM_MAX_ISA takes and what reports print.
const char* isa_name(Isa isa);

struct IsaChoice {
  Isa cpu = Isa::kBaseline;     // the best path this CPU (and its OS) supports
  Isa active = Isa::kBaseline;  // the path the kernels take: min(cpu, cap)
  std::string cap;              // QSIM_MAX_ISA as found ("" when unset)
  // Why the cap could not be honoured, or "": an unknown value (then `valid` is false and
  // every session refuses to start), or a cap above what the CPU has (`valid` stays true and
  // the CPU's best path is used).
  std::string problem;
  bool valid = true;
};

// The process's choice, made on first use (thread-safe).
const IsaChoice& isa_choice();

// The path every kernel dispatches on. Never above what the CPU has.
inline Isa active_isa() {
  return isa_choice().active;
}

// Throws kInvalidArgument when QSIM_MAX_ISA holds a value qsim does not know.
void require_valid_isa_cap();

// One line for reports: "avx2 (CPU: avx512; QSIM_MAX_ISA=avx2)".
std::string isa_report();

// Exposed for tests: the choice for a CPU and a cap value (nullptr: unset).
IsaChoice choose_isa(Isa cpu, const char* cap);

}  // namespace qsim
