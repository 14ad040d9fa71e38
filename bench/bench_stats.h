// Helpers the bench programs share: medians of timings, comma-separated option lists and the
// input shape of a model at a given batch size.
#pragma once

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "util/error.h"

namespace qsim::bench {

// The median (the mean of the two middle values for an even count); `values` is not empty.
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

// "1,64" -> {1, 64}.
inline std::vector<int64_t> parse_list(const std::string& text) {
  std::vector<int64_t> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(std::stoll(item));
  return values;
}

// The shape of the model's first input with its batch axis set to `batch` ([batch,1,28,28] for
// the Fashion-MNIST models, [batch,3,224,224] for the scale models); every other axis must be
// fixed in the model.
inline std::vector<int64_t> input_shape(const Model& model, int64_t batch) {
  require(!model.graph.inputs.empty() && model.graph.inputs[0].dims.has_value(),
          ErrorCode::kInvalidArgument, "the model declares no input shape");
  const ValueInfo& input = model.graph.inputs[0];
  std::vector<int64_t> shape;
  for (const Dim& d : *input.dims) {
    require(shape.empty() || d.value >= 0, ErrorCode::kInvalidArgument,
            "input '" + input.name + "' has a symbolic axis other than the batch axis");
    shape.push_back(shape.empty() ? batch : d.value);
  }
  return shape;
}

}  // namespace qsim::bench
