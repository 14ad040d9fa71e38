#include "capi/session.h"

#include <algorithm>
#include <cstring>

#include "capi/guard.h"
#include "graph/onnx_import.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace qsim::capi {

qsim_options read_options(const qsim_options* options) {
  qsim_options resolved;
  qsim_options_init(&resolved, sizeof resolved);
  if (options == nullptr) return resolved;
  require(options->struct_size >= sizeof(uint32_t) && options->struct_size <= sizeof(qsim_options) * 4,
          ErrorCode::kInvalidArgument,
          "qsim_options.struct_size is " + std::to_string(options->struct_size) +
              "; initialise options with QSIM_OPTIONS_INIT");
  std::memcpy(&resolved, options, std::min<size_t>(options->struct_size, sizeof resolved));
  resolved.struct_size = sizeof resolved;
  require(resolved.num_threads >= 0 && resolved.num_threads <= 1024, ErrorCode::kInvalidArgument,
          "num_threads must be between 0 (all cores) and 1024");
  return resolved;
}

Shape shape_from_c(const qsim_tensor& t, const char* what, DType* dtype) {
  *dtype = dtype_from_onnx(static_cast<int32_t>(t.dtype));
  std::string label = std::string(what) + (t.name ? std::string(" '") + t.name + "'" : "");
  require(*dtype != DType::kUndefined, ErrorCode::kInvalidArgument, label + ": unknown dtype");
  require(t.rank >= 0 && t.rank <= QSIM_MAX_RANK, ErrorCode::kInvalidArgument,
          label + ": rank must be 0 to " + std::to_string(QSIM_MAX_RANK));
  Shape shape(t.shape, t.shape + t.rank);
  for (int64_t d : shape) require(d >= 0, ErrorCode::kShape, label + ": negative dimension");
  return shape;
}

Tensor tensor_from_c(const qsim_tensor& t, const char* what) {
  DType dtype;
  Shape shape = shape_from_c(t, what, &dtype);
  std::string label = std::string(what) + (t.name ? std::string(" '") + t.name + "'" : "");
  size_t bytes = static_cast<size_t>(element_count(shape)) * dtype_size(dtype);
  require(t.data != nullptr || bytes == 0, ErrorCode::kInvalidArgument, label + ": data is NULL");
  require(t.size_bytes >= bytes, ErrorCode::kInvalidArgument,
          label + ": size_bytes is " + std::to_string(t.size_bytes) + " but shape " +
              shape_to_string(shape) + " needs " + std::to_string(bytes));
  return Tensor::view(dtype, shape, t.data);
}

void describe_to_c(DType dtype, const Shape& shape, qsim_tensor* out) {
  require(shape.size() <= QSIM_MAX_RANK, ErrorCode::kUnsupported,
          "rank " + std::to_string(shape.size()) + " exceeds QSIM_MAX_RANK");
  out->dtype = static_cast<qsim_dtype>(dtype);
  out->rank = static_cast<int32_t>(shape.size());
  std::fill(out->shape, out->shape + QSIM_MAX_RANK, 0);
  std::copy(shape.begin(), shape.end(), out->shape);
}

}  // namespace qsim::capi

namespace {

std::unique_ptr<qsim_session> make_session(Model model, const qsim_options& options) {
  auto session = std::make_unique<qsim_session>();
  session->options = options;
  session->model = std::make_shared<const Model>(std::move(model));
  session->engine = std::make_unique<Engine>(session->model, EngineOptions{options.num_threads});
  return session;
}

// Where each of the caller's inputs goes in the model's input order: by name when named,
// else by position. Checks the count and that no input is given twice.
std::vector<size_t> input_slots(const qsim_session& s, const qsim_tensor* inputs, size_t count) {
  const auto& declared = s.model->graph.inputs;
  require(count == declared.size(), ErrorCode::kInvalidArgument,
          "the model has " + std::to_string(declared.size()) + " inputs, " + std::to_string(count) + " given");
  require(inputs != nullptr || count == 0, ErrorCode::kInvalidArgument, "inputs is NULL");
  std::vector<size_t> slots(count);
  std::vector<bool> seen(count, false);
  for (size_t i = 0; i < count; ++i) {
    size_t slot = i;
    if (inputs[i].name != nullptr) {
      auto it = std::find_if(declared.begin(), declared.end(),
                             [&](const ValueInfo& v) { return v.name == inputs[i].name; });
      require(it != declared.end(), ErrorCode::kInvalidArgument,
              std::string("the model has no input named '") + inputs[i].name + "'");
      slot = static_cast<size_t>(it - declared.begin());
    }
    require(!seen[slot], ErrorCode::kInvalidArgument, "input '" + declared[slot].name + "' is given twice");
    seen[slot] = true;
    slots[i] = slot;
  }
  return slots;
}

std::vector<Tensor> bind_inputs(const qsim_session& s, const qsim_tensor* inputs, size_t count) {
  std::vector<size_t> slots = input_slots(s, inputs, count);
  std::vector<Tensor> bound(count);
  for (size_t i = 0; i < count; ++i) bound[slots[i]] = capi::tensor_from_c(inputs[i], "input");
  return bound;
}

}  // namespace

extern "C" {

qsim_status qsim_options_init(qsim_options* options, uint32_t struct_size) {
  return guard([&] {
    require_arg(options, "qsim_options_init", "options");
    require(struct_size >= sizeof(uint32_t), ErrorCode::kInvalidArgument,
            "qsim_options_init: struct_size is too small");
    qsim_options defaults{};
    defaults.struct_size = static_cast<uint32_t>(std::min<size_t>(struct_size, sizeof defaults));
    defaults.num_threads = 0;
    defaults.weight_bits = 8;
    defaults.activation_bits = 8;
    defaults.per_channel = 0;
    defaults.seed = 0;
    defaults.activation_calibration = QSIM_CALIB_TF_ENHANCED;
    defaults.weight_calibration = QSIM_CALIB_MINMAX;
    defaults.percentile = 99.999;
    defaults.config_path = nullptr;
    defaults.config_json = nullptr;
    defaults.fold_batch_norm = 1;
    defaults.nan_policy = QSIM_NAN_REJECT;
    std::memcpy(options, &defaults, std::min<size_t>(struct_size, sizeof defaults));
  });
}

qsim_status qsim_create(const char* model_path, const qsim_options* options, qsim_session** out_session) {
  return guard([&] {
    require_arg(out_session, "qsim_create", "out_session");
    *out_session = nullptr;
    require_arg(model_path, "qsim_create", "model_path");
    qsim_options resolved = capi::read_options(options);
    *out_session = make_session(load_onnx_file(model_path), resolved).release();
  });
}

qsim_status qsim_create_from_memory(const void* model_data, size_t model_size, const qsim_options* options,
                                    qsim_session** out_session) {
  return guard([&] {
    require_arg(out_session, "qsim_create_from_memory", "out_session");
    *out_session = nullptr;
    require_arg(model_data, "qsim_create_from_memory", "model_data");
    qsim_options resolved = capi::read_options(options);
    *out_session = make_session(load_onnx_memory(model_data, model_size), resolved).release();
  });
}

void qsim_destroy(qsim_session* session) { delete session; }

qsim_status qsim_io_count(const qsim_session* session, qsim_io_kind kind, size_t* out_count) {
  return guard([&] {
    require_arg(session, "qsim_io_count", "session");
    require_arg(out_count, "qsim_io_count", "out_count");
    const Graph& g = session->model->graph;
    *out_count = kind == QSIM_INPUT ? g.inputs.size() : g.outputs.size();
  });
}

qsim_status qsim_io_info(const qsim_session* session, qsim_io_kind kind, size_t index, qsim_tensor* out_info) {
  return guard([&] {
    require_arg(session, "qsim_io_info", "session");
    require_arg(out_info, "qsim_io_info", "out_info");
    const Graph& g = session->model->graph;
    const auto& list = kind == QSIM_INPUT ? g.inputs : g.outputs;
    require(index < list.size(), ErrorCode::kInvalidArgument,
            "qsim_io_info: index " + std::to_string(index) + " is out of range");
    const ValueInfo& v = list[index];
    Shape shape;
    if (v.dims)
      for (const Dim& d : *v.dims) shape.push_back(d.value);
    *out_info = qsim_tensor{};
    capi::describe_to_c(v.dtype, shape, out_info);
    out_info->name = v.name.c_str();
  });
}

qsim_status qsim_infer_shapes(qsim_session* session, const qsim_tensor* inputs, size_t num_inputs,
                              qsim_tensor* outputs, size_t num_outputs) {
  return guard([&] {
    require_arg(session, "qsim_infer_shapes", "session");
    require_arg(outputs, "qsim_infer_shapes", "outputs");
    std::vector<size_t> slots = input_slots(*session, inputs, num_inputs);
    std::vector<Shape> shapes(num_inputs);
    std::vector<DType> dtypes(num_inputs);
    for (size_t i = 0; i < num_inputs; ++i)
      shapes[slots[i]] = capi::shape_from_c(inputs[i], "input", &dtypes[slots[i]]);
    auto types = session->engine->output_types(shapes, dtypes);
    require(num_outputs == types.size(), ErrorCode::kInvalidArgument,
            "the model has " + std::to_string(types.size()) + " outputs, " + std::to_string(num_outputs) + " given");
    for (size_t i = 0; i < types.size(); ++i) {
      capi::describe_to_c(types[i].dtype, types[i].shape, &outputs[i]);
      outputs[i].name = session->model->graph.outputs[i].name.c_str();
      outputs[i].size_bytes = static_cast<size_t>(element_count(types[i].shape)) * dtype_size(types[i].dtype);
    }
  });
}

qsim_status qsim_run(qsim_session* session, qsim_run_mode mode, const qsim_tensor* inputs, size_t num_inputs,
                     qsim_tensor* outputs, size_t num_outputs) {
  return guard([&] {
    require_arg(session, "qsim_run", "session");
    require_arg(outputs, "qsim_run", "outputs");
    require(mode == QSIM_RUN_FLOAT || mode == QSIM_RUN_QUANTIZED, ErrorCode::kInvalidArgument,
            "qsim_run: unknown run mode");
    require(mode == QSIM_RUN_FLOAT, ErrorCode::kState,
            "qsim_run: the session has no encodings yet; calibrate before a quantized run");
    std::vector<Tensor> bound = bind_inputs(*session, inputs, num_inputs);
    const auto& declared_outputs = session->model->graph.outputs;
    require(num_outputs == declared_outputs.size(), ErrorCode::kInvalidArgument,
            "the model has " + std::to_string(declared_outputs.size()) + " outputs, " +
                std::to_string(num_outputs) + " given");
    std::vector<Tensor> results = session->engine->run(bound);
    // Check every buffer before writing any, so a short one leaves the others untouched.
    for (size_t i = 0; i < results.size(); ++i) {
      size_t needed = results[i].byte_size();
      if (outputs[i].size_bytes < needed || (outputs[i].data == nullptr && needed > 0)) {
        size_t capacity = outputs[i].size_bytes;
        outputs[i].size_bytes = needed;
        fail(ErrorCode::kBufferTooSmall, "output '" + declared_outputs[i].name + "' needs " +
                                             std::to_string(needed) + " bytes, the buffer holds " +
                                             std::to_string(capacity));
      }
    }
    for (size_t i = 0; i < results.size(); ++i) {
      qsim_tensor& out = outputs[i];
      capi::describe_to_c(results[i].dtype(), results[i].shape(), &out);
      out.name = declared_outputs[i].name.c_str();
      out.size_bytes = results[i].byte_size();
      if (out.size_bytes > 0) std::memcpy(out.data, results[i].raw(), out.size_bytes);
    }
  });
}

}  // extern "C"
