#include "capi/session.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "capi/data_source.h"
#include "capi/guard.h"
#include "capi/options.h"
#include "graph/onnx_import.h"
#include "io/sha256.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

QuantSim& qsim_session::quant() {
  if (!quantsim) quantsim = std::make_unique<QuantSim>(*model, quant_options);
  return *quantsim;
}

const EncodingSet& qsim_session::listed_encodings(const char* function) const {
  require(has_encodings, ErrorCode::kState,
          std::string(function) +
              ": the session has no encodings yet; calibrate or load encodings first");
  std::lock_guard<std::mutex> lock(listed_mutex_);
  if (!listed_ || listed_generation_ != quantsim->generation()) {
    listed_ = std::make_shared<const EncodingSet>(quantsim->encodings());
    listed_generation_ = quantsim->generation();
  }
  return *listed_;
}

const char* qsim_session::lasting_name(const std::string& name) const {
  std::lock_guard<std::mutex> lock(names_mutex_);
  return names_.insert(name).first->c_str();
}

void qsim_session::record_error(const char* message) const noexcept {
  std::lock_guard<std::mutex> lock(error_mutex_);
  last_error_.set("", message);
}

const char* qsim_session::last_error() const noexcept {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return last_error_.get();
}

namespace qsim::capi {

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

namespace {

// Where each of the caller's inputs goes in the model's input order: by name when named,
// else by position. Checks the count and that no input is given twice.
std::vector<size_t> input_slots(const qsim_session& s, const qsim_tensor* inputs, size_t count) {
  const auto& declared = s.model->graph.inputs;
  require(count == declared.size(), ErrorCode::kInvalidArgument,
          "the model has " + std::to_string(declared.size()) + " inputs, " + std::to_string(count) +
              " given");
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
    require(!seen[slot], ErrorCode::kInvalidArgument,
            "input '" + declared[slot].name + "' is given twice");
    seen[slot] = true;
    slots[i] = slot;
  }
  return slots;
}

}  // namespace

std::vector<Tensor> bind_inputs(const qsim_session& s, const qsim_tensor* inputs, size_t count) {
  std::vector<size_t> slots = input_slots(s, inputs, count);
  std::vector<Tensor> bound(count);
  for (size_t i = 0; i < count; ++i) bound[slots[i]] = tensor_from_c(inputs[i], "input");
  return bound;
}

char* copy_to_c(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

BatchReader batch_reader(const qsim_session& s, qsim_data_reader_fn reader, void* reader_data,
                         const char* function) {
  std::vector<qsim_tensor> slots(s.model->graph.inputs.size());
  // Every call starts a library source from its first sample (the header's promise).
  qsim_data_source* source = library_source(reader, reader_data);
  if (source != nullptr) source->next = 0;
  return [&s, reader, reader_data, function, source, slots = std::move(slots),
          batch = int64_t{0}](std::vector<Tensor>& out) mutable {
    ++batch;
    std::fill(slots.begin(), slots.end(), qsim_tensor{});
    const int got = reader(reader_data, slots.data(), slots.size());
    if (got == 0) return false;
    if (got < 0 && source != nullptr)
      fail(source->error_code, std::string(function) + ": data source, batch " +
                                   std::to_string(batch) + ": " + source->error +
                                   "; the session is unchanged");
    if (got < 0)
      fail(ErrorCode::kCallback, std::string(function) + ": the data reader returned " +
                                     std::to_string(got) + " for batch " + std::to_string(batch) +
                                     "; the session is unchanged");
    out = bind_inputs(s, slots.data(), slots.size());
    const auto& declared = s.model->graph.inputs;
    for (size_t i = 0; i < out.size(); ++i)
      require(declared[i].dtype == DType::kUndefined || out[i].dtype() == declared[i].dtype,
              ErrorCode::kInvalidArgument,
              std::string(function) + ": batch " + std::to_string(batch) + ": input '" +
                  declared[i].name + "' is " + dtype_name(out[i].dtype()) + ", the model takes " +
                  dtype_name(declared[i].dtype));
    // A batch of no values teaches nothing; a reader handing them out forever would loop.
    for (size_t i = 0; i < out.size(); ++i)
      require(out[i].size() > 0, ErrorCode::kInvalidArgument,
              std::string(function) + ": batch " + std::to_string(batch) + ": input '" +
                  declared[i].name + "' " + shape_to_string(out[i].shape()) +
                  " holds no values; calibration data must not be empty");
    return true;
  };
}

ProgressFn progress_fn(qsim_progress_fn progress, void* progress_data) {
  if (progress == nullptr) return nullptr;
  return [progress, progress_data](int64_t done, int64_t total, const std::string& message) {
    const int answer = progress(progress_data, done, total, message.c_str());
    if (answer < 0)
      fail(ErrorCode::kCallback, "the progress callback returned " + std::to_string(answer) +
                                     " (it failed) at " + std::to_string(done) +
                                     "; the session is unchanged");
    return answer == 0;
  };
}

}  // namespace qsim::capi

namespace {

std::unique_ptr<qsim_session> make_session(Model model, const qsim_options& options,
                                           std::string fingerprint) {
  auto session = std::make_unique<qsim_session>();
  session->quant_options = capi::quantsim_options(options);
  session->quant_options.model_fingerprint = std::move(fingerprint);
  // One pool of worker threads for the session's float engine and its simulation's engines.
  session->quant_options.thread_pool = std::make_shared<ThreadPool>(options.num_threads);
  session->model = std::make_shared<const Model>(std::move(model));
  session->engine = std::make_unique<Engine>(
      session->model, EngineOptions{.num_threads = options.num_threads,
                                    .max_tensor_bytes = session->quant_options.max_tensor_bytes,
                                    .pool = session->quant_options.thread_pool});
  return session;
}

// Copies `results` into the caller's buffers, checking every buffer before writing any so
// that a short one leaves the others untouched.
void copy_outputs(const qsim_session& s, const std::vector<Tensor>& results, qsim_tensor* outputs) {
  const auto& declared = s.model->graph.outputs;
  for (size_t i = 0; i < results.size(); ++i) {
    size_t needed = results[i].byte_size();
    if (outputs[i].size_bytes < needed || (outputs[i].data == nullptr && needed > 0)) {
      size_t capacity = outputs[i].size_bytes;
      outputs[i].size_bytes = needed;
      fail(ErrorCode::kBufferTooSmall, "output '" + declared[i].name + "' needs " +
                                           std::to_string(needed) + " bytes, the buffer holds " +
                                           std::to_string(capacity));
    }
  }
  for (size_t i = 0; i < results.size(); ++i) {
    qsim_tensor& out = outputs[i];
    capi::describe_to_c(results[i].dtype(), results[i].shape(), &out);
    out.name = declared[i].name.c_str();
    out.size_bytes = results[i].byte_size();
    if (out.size_bytes > 0) std::memcpy(out.data, results[i].raw(), out.size_bytes);
  }
}

std::vector<Tensor> run_model(qsim_session& s, qsim_run_mode mode,
                              const std::vector<Tensor>& inputs) {
  if (mode == QSIM_RUN_FLOAT) return s.engine->run(inputs);
  require(s.quantsim != nullptr, ErrorCode::kState,
          "qsim_run: the session has no encodings yet; calibrate or load encodings before a "
          "quantized run");
  return s.quantsim->run_quantized(inputs);
}

}  // namespace

extern "C" {

qsim_status qsim_create(const char* model_path, const qsim_options* options,
                        qsim_session** out_session) {
  return guard([&] {
    require_arg(out_session, "qsim_create", "out_session");
    *out_session = nullptr;
    require_arg(model_path, "qsim_create", "model_path");
    qsim_options resolved = capi::read_options(options);
    // QuantSim fingerprints the file itself (lazily) from the model's source path.
    *out_session = make_session(load_onnx_file(model_path), resolved, "").release();
  });
}

qsim_status qsim_create_from_memory(const void* model_data, size_t model_size,
                                    const qsim_options* options, qsim_session** out_session) {
  return guard([&] {
    require_arg(out_session, "qsim_create_from_memory", "out_session");
    *out_session = nullptr;
    require_arg(model_data, "qsim_create_from_memory", "model_data");
    qsim_options resolved = capi::read_options(options);
    *out_session = make_session(load_onnx_memory(model_data, model_size), resolved,
                                sha256_hex(model_data, model_size))
                       .release();
  });
}

void qsim_destroy(qsim_session* session) {
  delete session;
}

const char* qsim_session_last_error(const qsim_session* session) {
  return session == nullptr ? "" : session->last_error();
}

qsim_status qsim_io_count(const qsim_session* session, qsim_io_kind kind, size_t* out_count) {
  return capi::guard_session(session, "qsim_io_count", capi::SessionAccess::kRead, [&] {
    require_arg(out_count, "qsim_io_count", "out_count");
    const Graph& g = session->model->graph;
    *out_count = kind == QSIM_INPUT ? g.inputs.size() : g.outputs.size();
  });
}

qsim_status qsim_io_info(const qsim_session* session, qsim_io_kind kind, size_t index,
                         qsim_tensor* out_info) {
  return capi::guard_session(session, "qsim_io_info", capi::SessionAccess::kRead, [&] {
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
  return capi::guard_session(session, "qsim_infer_shapes", capi::SessionAccess::kWrite, [&] {
    require_arg(outputs, "qsim_infer_shapes", "outputs");
    std::vector<size_t> slots = capi::input_slots(*session, inputs, num_inputs);
    std::vector<Shape> shapes(num_inputs);
    std::vector<DType> dtypes(num_inputs);
    for (size_t i = 0; i < num_inputs; ++i)
      shapes[slots[i]] = capi::shape_from_c(inputs[i], "input", &dtypes[slots[i]]);
    auto types = session->engine->output_types(shapes, dtypes);
    require(num_outputs == types.size(), ErrorCode::kInvalidArgument,
            "the model has " + std::to_string(types.size()) + " outputs, " +
                std::to_string(num_outputs) + " given");
    for (size_t i = 0; i < types.size(); ++i) {
      capi::describe_to_c(types[i].dtype, types[i].shape, &outputs[i]);
      outputs[i].name = session->model->graph.outputs[i].name.c_str();
      outputs[i].size_bytes =
          static_cast<size_t>(element_count(types[i].shape)) * dtype_size(types[i].dtype);
    }
  });
}

qsim_status qsim_run(qsim_session* session, qsim_run_mode mode, const qsim_tensor* inputs,
                     size_t num_inputs, qsim_tensor* outputs, size_t num_outputs) {
  return capi::guard_session(session, "qsim_run", capi::SessionAccess::kWrite, [&] {
    require_arg(outputs, "qsim_run", "outputs");
    require(mode == QSIM_RUN_FLOAT || mode == QSIM_RUN_QUANTIZED, ErrorCode::kInvalidArgument,
            "qsim_run: unknown run mode");
    std::vector<Tensor> bound = capi::bind_inputs(*session, inputs, num_inputs);
    const auto& declared_outputs = session->model->graph.outputs;
    require(num_outputs == declared_outputs.size(), ErrorCode::kInvalidArgument,
            "the model has " + std::to_string(declared_outputs.size()) + " outputs, " +
                std::to_string(num_outputs) + " given");
    copy_outputs(*session, run_model(*session, mode, bound), outputs);
  });
}

}  // extern "C"
