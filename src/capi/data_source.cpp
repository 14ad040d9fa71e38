#include "capi/data_source.h"

#include <cstring>
#include <type_traits>
#include <utility>

#include "capi/guard.h"
#include "capi/session.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace {

// What both constructors share: the checks of their arguments, then one input after the
// other (`add_input(source, i)` adds input i and gives its sample count and its name for
// messages), then the same sample count for every input.
template <typename Item, typename AddInput>
qsim_status make_source(const char* function, const Item* list, size_t count, const char* list_name,
                        int64_t batch_size, qsim_data_source** out_source, AddInput&& add_input) {
  return guard([&] {
    require_arg(out_source, function, "out_source");
    *out_source = nullptr;
    require_arg(list, function, list_name);
    require(count >= 1, ErrorCode::kInvalidArgument,
            std::string(function) + ": " + list_name + " is empty");
    require(batch_size >= 1, ErrorCode::kInvalidArgument,
            std::string(function) + ": batch_size is " + std::to_string(batch_size) +
                ", it must be at least 1");
    auto source = std::make_unique<qsim_data_source>();
    std::vector<std::pair<int64_t, std::string>> inputs;
    for (size_t i = 0; i < count; ++i) {
      if constexpr (std::is_pointer_v<Item>)
        require(list[i] != nullptr, ErrorCode::kInvalidArgument,
                std::string(function) + ": " + list_name + "[" + std::to_string(i) + "] is NULL");
      inputs.push_back(add_input(*source, i));
    }
    for (const auto& [samples, name] : inputs)
      require(samples == inputs[0].first, ErrorCode::kInvalidArgument,
              std::string(function) + ": " + inputs[0].second + " holds " +
                  std::to_string(inputs[0].first) + " samples but " + name + " holds " +
                  std::to_string(samples));
    source->samples = inputs[0].first;
    source->batch_size = batch_size;
    *out_source = source.release();
  });
}

// Rows [first, first + count) of a C-order array, as a view.
Tensor rows_of(Tensor& array, int64_t first, int64_t count) {
  Shape shape = array.shape();
  const size_t row_bytes = shape[0] == 0 ? 0 : array.byte_size() / static_cast<size_t>(shape[0]);
  shape[0] = count;
  return Tensor::view(array.dtype(), shape,
                      static_cast<char*>(array.raw()) + static_cast<size_t>(first) * row_bytes);
}

// The next batch into source.batch; false at the end.
bool read_batch(qsim_data_source& source) {
  if (source.next >= source.samples) return false;
  const int64_t count = std::min(source.batch_size, source.samples - source.next);
  source.batch.clear();
  for (size_t i = 0; i < source.inputs(); ++i)
    source.batch.push_back(source.files.empty() ? rows_of(source.arrays[i], source.next, count)
                                                : source.files[i]->read_rows(source.next, count));
  source.next += count;
  return true;
}

}  // namespace

namespace qsim::capi {

qsim_data_source* library_source(qsim_data_reader_fn reader, void* reader_data) {
  return reader == &qsim_data_source_read ? static_cast<qsim_data_source*>(reader_data) : nullptr;
}

}  // namespace qsim::capi

extern "C" {

qsim_status qsim_data_source_from_npy(const char* const* paths, size_t num_paths,
                                      int64_t batch_size, qsim_data_source** out_source) {
  return make_source(
      "qsim_data_source_from_npy", paths, num_paths, "paths", batch_size, out_source,
      [&](qsim_data_source& source, size_t i) {
        source.files.push_back(std::make_unique<NpyRowReader>(paths[i]));
        return std::pair{source.files.back()->rows(), std::string("'") + paths[i] + "'"};
      });
}

qsim_status qsim_data_source_from_memory(const qsim_tensor* arrays, size_t num_arrays,
                                         int64_t batch_size, qsim_data_source** out_source) {
  return make_source(
      "qsim_data_source_from_memory", arrays, num_arrays, "arrays", batch_size, out_source,
      [&](qsim_data_source& source, size_t i) {
        const std::string name = "arrays[" + std::to_string(i) + "]";
        const Tensor view = capi::tensor_from_c(arrays[i], name.c_str());
        require(view.shape().size() >= 1, ErrorCode::kShape,
                "qsim_data_source_from_memory: " + name + " is a scalar; samples run along axis 0");
        Tensor copy = Tensor::uninitialized(view.dtype(), view.shape());
        std::memcpy(copy.raw(), view.raw(), view.byte_size());
        source.arrays.push_back(std::move(copy));
        return std::pair{view.shape()[0], name};
      });
}

qsim_status qsim_data_source_samples(const qsim_data_source* source, int64_t* out_samples) {
  return guard([&] {
    require_arg(source, "qsim_data_source_samples", "source");
    require_arg(out_samples, "qsim_data_source_samples", "out_samples");
    *out_samples = source->samples;
  });
}

int qsim_data_source_read(void* source_data, qsim_tensor* inputs, size_t num_inputs) {
  auto* source = static_cast<qsim_data_source*>(source_data);
  if (source == nullptr || inputs == nullptr) return -1;
  try {
    source->error.clear();
    require(num_inputs == source->inputs(), ErrorCode::kInvalidArgument,
            "the model has " + std::to_string(num_inputs) + " input(s), the data source " +
                std::to_string(source->inputs()));
    if (!read_batch(*source)) return 0;
    for (size_t i = 0; i < num_inputs; ++i) {
      Tensor& t = source->batch[i];
      inputs[i] = qsim_tensor{};
      capi::describe_to_c(t.dtype(), t.shape(), &inputs[i]);
      inputs[i].data = t.raw();
      inputs[i].size_bytes = t.byte_size();
    }
    return 1;
  } catch (const Error& e) {
    source->error_code = e.code();
    source->error = e.what();
  } catch (const std::bad_alloc&) {
    source->error_code = ErrorCode::kOutOfMemory;
    source->error = "out of memory";
  } catch (const std::exception& e) {
    source->error_code = ErrorCode::kInternal;
    source->error = std::string("internal error: ") + e.what();
  }
  return -1;
}

void qsim_data_source_destroy(qsim_data_source* source) {
  delete source;
}

}  // extern "C"
