// The object behind qsim_data_source: calibration data qsim reads itself, from .npy files (a
// batch of rows at a time) or from a copy of the caller's arrays, so that no binding parses
// .npy and no garbage-collected caller has to keep batch memory alive across callbacks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/npy.h"
#include "qsim/qsim.h"
#include "tensor/tensor.h"
#include "util/error.h"

struct qsim_data_source {
  std::vector<std::unique_ptr<qsim::NpyRowReader>> files;  // one per model input, or none
  std::vector<qsim::Tensor> arrays;  // the copied arrays, when not read from files
  int64_t samples = 0;
  int64_t batch_size = 1;
  int64_t next = 0;                 // first sample of the next batch
  std::vector<qsim::Tensor> batch;  // what the last read handed out
  // Why the last read failed: the calling function's error carries it.
  qsim::ErrorCode error_code = qsim::ErrorCode::kInternal;
  std::string error;

  size_t inputs() const { return files.empty() ? arrays.size() : files.size(); }
};

namespace qsim::capi {

// The source behind a reader, when the reader is qsim_data_source_read; else nullptr.
qsim_data_source* library_source(qsim_data_reader_fn reader, void* reader_data);

}  // namespace qsim::capi
