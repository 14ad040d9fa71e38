// Tests of code compiled once per kernel path (src/util/isa_namespace.h): the test file is
// compiled once per path as well (tests/CMakeLists.txt), so each of its tests exists once per
// path, named "<path>: ..." and tagged [path:<path>]. A test of a path above the one the
// process takes (the CPU lacks it, or QSIM_MAX_ISA caps it away) passes with a warning
// without running: its code would use instructions the CPU may lack.
#pragma once

#include <catch2/catch.hpp>
#include <cstring>

#include "util/cpu_isa.h"
#include "util/isa_namespace.h"

#ifndef QSIM_ISA_PATH_NAME
#error "compile this test once per kernel path (tests/CMakeLists.txt: QSIM_PATH_TEST_SOURCES)"
#endif

namespace qsim::testing {

inline bool path_is_taken_or_below(const char* path) {
  for (Isa isa : {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512})
    if (std::strcmp(isa_name(isa), path) == 0) return isa <= active_isa();
  return false;
}

}  // namespace qsim::testing

#define QSIM_PATH_TEST_CASE_WITH_BODY(body, name, ...)                                        \
  static void body();                                                                         \
  TEST_CASE(QSIM_ISA_PATH_NAME ": " name, "[path:" QSIM_ISA_PATH_NAME "]" __VA_ARGS__) {      \
    if (!qsim::testing::path_is_taken_or_below(QSIM_ISA_PATH_NAME)) {                         \
      WARN("not run: kernel path " << qsim::isa_report() << " is below " QSIM_ISA_PATH_NAME); \
      return;                                                                                 \
    }                                                                                         \
    body();                                                                                   \
  }                                                                                           \
  static void body()
#define PATH_TEST_CASE(name, ...) \
  QSIM_PATH_TEST_CASE_WITH_BODY(INTERNAL_CATCH_UNIQUE_NAME(path_test_body_), name, __VA_ARGS__)
