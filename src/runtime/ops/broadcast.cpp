#include "runtime/ops/broadcast.h"

namespace qsim {

void require_input_count(const Node& node, size_t min, size_t max) {
  size_t count = node.inputs.size();
  if (count >= min && count <= max) return;
  std::string expected = min == max        ? std::to_string(min)
                         : max == SIZE_MAX ? "at least " + std::to_string(min)
                                           : std::to_string(min) + " to " + std::to_string(max);
  fail_node(node, ErrorCode::kInvalidArgument,
            "has " + std::to_string(count) + " inputs, expected " + expected);
}

WalkAxes merge_axes(const Shape& dims, std::vector<std::vector<int64_t>> strides) {
  WalkAxes merged;
  merged.strides.resize(strides.size());
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;  // a size-1 axis never moves the index
    bool contiguous_with_previous = !merged.dims.empty();
    for (size_t k = 0; k < strides.size() && contiguous_with_previous; ++k)
      contiguous_with_previous = merged.strides[k].back() == strides[k][d] * dims[d];
    if (contiguous_with_previous) {
      merged.dims.back() *= dims[d];
      for (size_t k = 0; k < strides.size(); ++k) merged.strides[k].back() = strides[k][d];
      continue;
    }
    merged.dims.push_back(dims[d]);
    for (size_t k = 0; k < strides.size(); ++k) merged.strides[k].push_back(strides[k][d]);
  }
  if (merged.dims.empty()) {  // a scalar, or only size-1 axes: one element
    merged.dims.push_back(1);
    for (auto& s : merged.strides) s.push_back(0);
  }
  return merged;
}

}  // namespace qsim
