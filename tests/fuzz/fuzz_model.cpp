// qsim_create_from_memory on ONNX model bytes; a model that loads then has its declared
// input shapes (symbolic dimensions as 1) inferred through, and is run in float when its
// inputs and outputs are small.
#include <cstdint>
#include <cstring>
#include <vector>

#include "qsim/qsim.h"

namespace {

constexpr int64_t kMaxRunElements = 1 << 16;  // per tensor, so one input costs little

// The declared info as an input of that shape (-1 and 0 dims taken as 1); false when it is
// not something a caller could pass.
bool declared_input(const qsim_tensor& info, qsim_tensor* in, int64_t* elements) {
  *in = info;
  *elements = 1;
  if (info.rank < 0 || info.rank > QSIM_MAX_RANK) return false;
  for (int32_t d = 0; d < info.rank; ++d) {
    if (in->shape[d] <= 0) in->shape[d] = 1;
    if (in->shape[d] > kMaxRunElements) return false;
    *elements *= in->shape[d];
    if (*elements > kMaxRunElements) return false;
  }
  return true;
}

size_t dtype_bytes(qsim_dtype dtype) {
  switch (dtype) {
    case QSIM_DTYPE_FLOAT32:
    case QSIM_DTYPE_INT32:
      return 4;
    case QSIM_DTYPE_INT64:
      return 8;
    case QSIM_DTYPE_UINT8:
    case QSIM_DTYPE_INT8:
    case QSIM_DTYPE_BOOL:
      return 1;
    default:
      return 0;
  }
}

void exercise(qsim_session* session) {
  size_t num_inputs = 0, num_outputs = 0;
  if (qsim_io_count(session, QSIM_INPUT, &num_inputs) != QSIM_OK) return;
  if (qsim_io_count(session, QSIM_OUTPUT, &num_outputs) != QSIM_OK) return;
  if (num_inputs > 16 || num_outputs > 16) return;
  std::vector<qsim_tensor> inputs(num_inputs), outputs(num_outputs);
  std::vector<std::vector<uint8_t>> input_data(num_inputs), output_data(num_outputs);
  for (size_t i = 0; i < num_inputs; ++i) {
    qsim_tensor info;
    std::memset(&info, 0, sizeof info);
    int64_t elements = 0;
    if (qsim_io_info(session, QSIM_INPUT, i, &info) != QSIM_OK) return;
    if (!declared_input(info, &inputs[i], &elements)) return;
    const size_t bytes = static_cast<size_t>(elements) * dtype_bytes(info.dtype);
    input_data[i].assign(bytes, 0);
    // Small positive values: exercise the arithmetic, not only zeros.
    for (size_t b = 0; b < bytes; ++b) input_data[i][b] = static_cast<uint8_t>(b % 7 == 3);
    inputs[i].data = input_data[i].data();
    inputs[i].size_bytes = bytes;
  }
  for (size_t o = 0; o < num_outputs; ++o) std::memset(&outputs[o], 0, sizeof outputs[o]);
  if (qsim_infer_shapes(session, inputs.data(), num_inputs, outputs.data(), num_outputs) != QSIM_OK)
    return;
  for (size_t o = 0; o < num_outputs; ++o) {
    if (outputs[o].size_bytes > kMaxRunElements * 8) return;
    output_data[o].resize(outputs[o].size_bytes + 1);
    outputs[o].data = output_data[o].data();
  }
  qsim_run(session, QSIM_RUN_FLOAT, inputs.data(), num_inputs, outputs.data(), num_outputs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qsim_options options;
  qsim_options_init(&options, sizeof options);
  options.num_threads = 1;
  qsim_session* session = nullptr;
  if (qsim_create_from_memory(data, size, &options, &session) == QSIM_OK) {
    exercise(session);
    qsim_destroy(session);
  }
  return 0;
}
