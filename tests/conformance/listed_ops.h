// The ops qsim's runtime promises (issue #2): every op of the default ONNX domain with a
// kernel, so that a new kernel is covered by the conformance run without another list to keep
// (graph/op_info.h holds the one table of op facts). The run covers every backend test that
// uses one of them.
#pragma once

#include <set>
#include <string>

#include "runtime/registry.h"

namespace qsim::conformance {

inline const std::set<std::string>& listed_ops() {
  static const std::set<std::string> ops = [] {
    const std::vector<std::string> types = default_registry().op_types();
    return std::set<std::string>(types.begin(), types.end());
  }();
  return ops;
}

}  // namespace qsim::conformance
