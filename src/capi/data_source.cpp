#include "capi/data_source.h"

#include <cstring>

#include "capi/guard.h"
#include "capi/session.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace {

void require_batch_size(int64_t batch_size, const char* function) {
  require(batch_size >= 1, ErrorCode::kInvalidArgument,
          std::string(function) + ": batch_size is " + std::to_string(batch_size) +
              ", it must be at least 1");
}

// Every input's arrays have the same number of samples along their first axis.
int64_t common_samples(const std::vector<int64_t>& counts, const std::vector<std::string>& names,
                       const char* function) {
  for (size_t i = 1; i < counts.size(); ++i)
    require(counts[i] == counts[0], ErrorCode::kInvalidArgument,
            std::string(function) + ": " + names[0] + " holds " + std::to_string(counts[0]) +
                " samples but " + names[i] + " holds " + std::to_string(counts[i]));
  return counts.empty() ? 0 : counts[0];
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
  return guard([&] {
    constexpr const char* kFunction = "qsim_data_source_from_npy";
    require_arg(out_source, kFunction, "out_source");
    *out_source = nullptr;
    require_arg(paths, kFunction, "paths");
    require(num_paths >= 1, ErrorCode::kInvalidArgument, std::string(kFunction) + ": no file");
    require_batch_size(batch_size, kFunction);
    auto source = std::make_unique<qsim_data_source>();
    std::vector<int64_t> counts;
    for (size_t i = 0; i < num_paths; ++i) {
      require(paths[i] != nullptr, ErrorCode::kInvalidArgument,
              std::string(kFunction) + ": paths[" + std::to_string(i) + "] is NULL");
      source->files.push_back(std::make_unique<NpyRowReader>(paths[i]));
      source->paths.push_back(std::string("'") + paths[i] + "'");
      counts.push_back(source->files.back()->rows());
    }
    source->samples = common_samples(counts, source->paths, kFunction);
    source->batch_size = batch_size;
    *out_source = source.release();
  });
}

qsim_status qsim_data_source_from_memory(const qsim_tensor* arrays, size_t num_arrays,
                                         int64_t batch_size, qsim_data_source** out_source) {
  return guard([&] {
    constexpr const char* kFunction = "qsim_data_source_from_memory";
    require_arg(out_source, kFunction, "out_source");
    *out_source = nullptr;
    require_arg(arrays, kFunction, "arrays");
    require(num_arrays >= 1, ErrorCode::kInvalidArgument, std::string(kFunction) + ": no array");
    require_batch_size(batch_size, kFunction);
    auto source = std::make_unique<qsim_data_source>();
    std::vector<int64_t> counts;
    std::vector<std::string> names;
    for (size_t i = 0; i < num_arrays; ++i) {
      const std::string name = "arrays[" + std::to_string(i) + "]";
      const Tensor view = capi::tensor_from_c(arrays[i], name.c_str());
      require(view.shape().size() >= 1, ErrorCode::kShape,
              std::string(kFunction) + ": " + name + " is a scalar; samples run along axis 0");
      Tensor copy = Tensor::uninitialized(view.dtype(), view.shape());
      std::memcpy(copy.raw(), view.raw(), view.byte_size());
      counts.push_back(view.shape()[0]);
      names.push_back(name);
      source->arrays.push_back(std::move(copy));
    }
    source->samples = common_samples(counts, names, kFunction);
    source->batch_size = batch_size;
    *out_source = source.release();
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
