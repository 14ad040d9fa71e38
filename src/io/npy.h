// NumPy .npy files (format 1.0/2.0/3.0), C order, dtypes float32, uint8, int8, int32, int64
// and bool. Anything else is rejected with a message naming the file.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace qsim {

Tensor read_npy(const std::string& path);
Tensor parse_npy(const void* data, size_t size, const std::string& name);
// Writes to a temporary name in the same folder, then renames it into place.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace qsim
