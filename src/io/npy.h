// NumPy .npy files (format 1.0/2.0/3.0), C order, dtypes float32, uint8, int8, int32, int64
// and bool. Anything else is rejected with a message naming the file.
#pragma once

#include <fstream>
#include <string>

#include "tensor/tensor.h"

namespace qsim {

Tensor read_npy(const std::string& path);
Tensor parse_npy(const void* data, size_t size, const std::string& name);
// Writes to a temporary name in the same folder, then renames it into place.
void write_npy(const std::string& path, const Tensor& tensor);

// A .npy array of rank >= 1 read a slice of rows (along axis 0) at a time, so memory holds one
// slice whatever the file's size (calibration sets of many thousand samples). The header and
// the file's size are checked on opening.
class NpyRowReader {
 public:
  explicit NpyRowReader(const std::string& path);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }  // of the whole array
  int64_t rows() const { return shape_[0]; }
  // Rows [first, first + count) as a [count, shape()[1], ...] tensor; kInvalidArgument when
  // they are not all in [0, rows()).
  Tensor read_rows(int64_t first, int64_t count);

 private:
  std::string path_;
  std::ifstream in_;
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  size_t data_offset_ = 0;
  size_t row_bytes_ = 0;
};

}  // namespace qsim
