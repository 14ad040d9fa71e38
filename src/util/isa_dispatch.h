// Calls into code compiled once per kernel path (util/isa_namespace.h): declare the entry in
// every path's namespace with QSIM_FOR_EACH_ISA, then take the active path's copy with
// QSIM_ISA_ENTRY. On x86-64 the paths are baseline, avx2 and avx512 (src/CMakeLists.txt
// defines QSIM_X86_KERNEL_PATHS); elsewhere only baseline is built.
#pragma once

#include "util/cpu_isa.h"

#if QSIM_X86_KERNEL_PATHS
#define QSIM_FOR_EACH_ISA(X) X(isa_baseline) X(isa_avx2) X(isa_avx512)
#define QSIM_ISA_ENTRY(name)                                                   \
  ::qsim::for_active_isa(&::qsim::isa_baseline::name, &::qsim::isa_avx2::name, \
                         &::qsim::isa_avx512::name)
#else
#define QSIM_FOR_EACH_ISA(X) X(isa_baseline)
#define QSIM_ISA_ENTRY(name) (&::qsim::isa_baseline::name)
#endif

namespace qsim {

// The active path's one of three entries.
template <typename T>
T for_active_isa(T baseline, T avx2, T avx512) {
  switch (active_isa()) {
    case Isa::kAvx512:
      return avx512;
    case Isa::kAvx2:
      return avx2;
    case Isa::kBaseline:
      break;
  }
  return baseline;
}

}  // namespace qsim
