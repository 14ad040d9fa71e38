#include "quant/weight_rounding.h"

#include <cmath>

#include "util/error.h"

namespace qsim {

void check_grid(const Encoding& encoding, const std::string& what) {
  check_bitwidth(encoding.bitwidth, what, true);
  require(!encoding.channels.empty(), ErrorCode::kInvalidArgument,
          what + ": the encoding has no channels");
  const int64_t lowest_offset = -encoding.quant_max();
  for (const ChannelEncoding& channel : encoding.channels) {
    require(std::isfinite(channel.scale) && channel.scale > 0.0f, ErrorCode::kInvalidArgument,
            what + ": scale " + std::to_string(channel.scale) + " is not a positive number");
    require(channel.offset <= 0 && channel.offset >= lowest_offset, ErrorCode::kInvalidArgument,
            what + ": offset " + std::to_string(channel.offset) + " is outside [" +
                std::to_string(lowest_offset) + ", 0] for " + std::to_string(encoding.bitwidth) +
                " bits");
  }
}

const Tensor& quantized_initializer(const Graph& graph, const TensorEncoding& param) {
  const std::string what = "parameter encoding '" + param.name + "'";
  check_grid(*param.encoding, what);
  const Tensor* values = graph.find_initializer(param.name);
  require(values != nullptr, ErrorCode::kInvalidArgument,
          what + ": the model has no initializer of that name");
  require(values->dtype() == DType::kFloat32, ErrorCode::kInvalidArgument,
          what + ": the initializer is " + values->describe() +
              ", only float32 parameters are quantized");
  const Encoding& encoding = *param.encoding;
  const bool axis_fits = !encoding.per_channel() || encoding.axis < values->rank();
  const int64_t channels = encoding.per_channel() && axis_fits ? values->dim(encoding.axis) : 1;
  require(axis_fits && static_cast<int64_t>(encoding.channels.size()) == channels,
          ErrorCode::kInvalidArgument,
          what + ": " + std::to_string(encoding.channels.size()) + " channel(s) along axis " +
              std::to_string(encoding.axis) + " do not fit " + values->describe());
  return *values;
}

Model round_weights_to_grid(const Model& model, const EncodingSet& encodings) {
  // Copies of a Model share tensor buffers, so encoded initializers are replaced, never
  // modified in place.
  Model rounded = model;
  for (const TensorEncoding& param : encodings.params) {
    if (!param.encoding) continue;
    Tensor values = quantized_initializer(model.graph, param).clone();
    fake_quantize(values, *param.encoding);
    rounded.graph.initializers[param.name] = values;
  }
  return rounded;
}

}  // namespace qsim
