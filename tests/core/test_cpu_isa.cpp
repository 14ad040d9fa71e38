// The kernel path choice (util/cpu_isa.h): what QSIM_MAX_ISA does with every CPU and value.
#include <catch2/catch.hpp>

#include "util/cpu_isa.h"
#include "util/error.h"

using namespace qsim;

TEST_CASE("QSIM_MAX_ISA caps the kernel path at or below what the CPU has") {
  for (Isa cpu : {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512}) {
    const IsaChoice unset = choose_isa(cpu, nullptr);
    CHECK(unset.active == cpu);
    CHECK(unset.valid);
    CHECK(unset.problem.empty());
    CHECK(choose_isa(cpu, "").active == cpu);
    for (Isa cap : {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512}) {
      const IsaChoice c = choose_isa(cpu, isa_name(cap));
      CHECK(c.valid);
      CHECK(c.cap == isa_name(cap));
      if (cap <= cpu) {
        CHECK(c.active == cap);
        CHECK(c.problem.empty());
      } else {
        // Never above the CPU: the CPU's best path, and a message saying so.
        CHECK(c.active == cpu);
        CHECK(c.problem == std::string("QSIM_MAX_ISA=") + isa_name(cap) +
                               " asks for more than this CPU has (" + isa_name(cpu) + "); using " +
                               isa_name(cpu));
      }
    }
  }
}

TEST_CASE("an unknown QSIM_MAX_ISA value is refused with a message listing the paths") {
  for (const char* value : {"avx3", "AVX2", "sse4", " avx2", "avx512 "}) {
    const IsaChoice c = choose_isa(Isa::kAvx512, value);
    CHECK_FALSE(c.valid);
    CHECK(c.active == Isa::kBaseline);
    CHECK(c.problem == std::string("QSIM_MAX_ISA=") + value +
                           " is not a kernel path qsim knows; use baseline, avx2 or avx512");
  }
}

TEST_CASE("the process's kernel path is one the CPU has") {
  const IsaChoice& c = isa_choice();
  CHECK(c.active <= c.cpu);
  CHECK(isa_report().rfind(isa_name(c.active), 0) == 0);
}
