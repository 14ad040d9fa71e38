#include "util/cpu_isa.h"

#include <cstdlib>
#include <cstring>

#include "util/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace qsim {
namespace {

constexpr Isa kAllIsas[] = {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512};

#if defined(__x86_64__) || defined(__i386__)
bool bit(unsigned value, int index) {
  return (value >> index) & 1u;
}

// XCR0: which register states the OS saves on a context switch. A CPU may have AVX-512 units
// that the OS has not enabled; using them then faults.
uint64_t enabled_register_states() {
  uint32_t low = 0, high = 0;
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (uint64_t{high} << 32) | low;
}

Isa detect_cpu_isa() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::kBaseline;
  const bool osxsave = bit(ecx, 27), avx = bit(ecx, 28), fma = bit(ecx, 12), f16c = bit(ecx, 29);
  if (!osxsave || !avx) return Isa::kBaseline;
  const uint64_t xcr0 = enabled_register_states();
  constexpr uint64_t kYmmState = 0x6;   // SSE and AVX
  constexpr uint64_t kZmmState = 0xE6;  // plus opmask, upper ZMM0-15, ZMM16-31
  if ((xcr0 & kYmmState) != kYmmState) return Isa::kBaseline;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return Isa::kBaseline;
  const bool avx2 = bit(ebx, 5), bmi1 = bit(ebx, 3), bmi2 = bit(ebx, 8);
  unsigned ext_eax = 0, ext_ebx = 0, ext_ecx = 0, ext_edx = 0;
  const bool lzcnt =
      __get_cpuid(0x80000001, &ext_eax, &ext_ebx, &ext_ecx, &ext_edx) && bit(ext_ecx, 5);
  if (!(avx2 && fma && f16c && bmi1 && bmi2 && lzcnt)) return Isa::kBaseline;
  const bool avx512 = bit(ebx, 16) && bit(ebx, 17) && bit(ebx, 28) && bit(ebx, 30) &&
                      bit(ebx, 31);  // F, DQ, CD, BW, VL
  if (avx512 && (xcr0 & kZmmState) == kZmmState) return Isa::kAvx512;
  return Isa::kAvx2;
}
#else
Isa detect_cpu_isa() {
  return Isa::kBaseline;
}
#endif

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kBaseline:
      break;
  }
  return "baseline";
}

IsaChoice choose_isa(Isa cpu, const char* cap) {
  IsaChoice choice;
  choice.cpu = cpu;
  choice.active = cpu;
  if (cap == nullptr || *cap == '\0') return choice;
  choice.cap = cap;
  for (Isa isa : kAllIsas) {
    if (choice.cap != isa_name(isa)) continue;
    if (isa > cpu) {
      choice.problem = std::string("QSIM_MAX_ISA=") + cap + " asks for more than this CPU has (" +
                       isa_name(cpu) + "); using " + isa_name(cpu);
    } else {
      choice.active = isa;
    }
    return choice;
  }
  choice.valid = false;
  choice.problem = std::string("QSIM_MAX_ISA=") + cap +
                   " is not a kernel path qsim knows; use baseline, avx2 or avx512";
  // Never above what the CPU has, and the most portable path while the value is wrong.
  choice.active = Isa::kBaseline;
  return choice;
}

const IsaChoice& isa_choice() {
  static const IsaChoice choice = choose_isa(detect_cpu_isa(), std::getenv("QSIM_MAX_ISA"));
  return choice;
}

void require_valid_isa_cap() {
  const IsaChoice& choice = isa_choice();
  require(choice.valid, ErrorCode::kInvalidArgument, choice.problem);
}

std::string isa_report() {
  const IsaChoice& choice = isa_choice();
  std::string report = std::string(isa_name(choice.active)) + " (CPU: " + isa_name(choice.cpu);
  if (!choice.cap.empty()) report += "; QSIM_MAX_ISA=" + choice.cap;
  report += ")";
  if (!choice.problem.empty()) report += ": " + choice.problem;
  return report;
}

}  // namespace qsim
