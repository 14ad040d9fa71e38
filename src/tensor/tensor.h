// Dense row-major tensors. A Tensor owns a 64-byte aligned buffer or views memory it does
// not own (an arena slot of the runtime, a caller's buffer); copying a Tensor shares the
// buffer, so use clone() for a deep copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "util/error.h"
#include "util/integer_math.h"

namespace qsim {

constexpr size_t kTensorAlignment = 64;

// `bytes` rounded up to whole cache lines (kTensorAlignment), so that areas laid out one after
// another stay aligned.
constexpr size_t round_to_line(size_t bytes) {
  return round_up(bytes, kTensorAlignment);
}
// No single tensor may exceed this many bytes (a corrupt shape must not exhaust memory).
constexpr int64_t kMaxTensorBytes = int64_t{1} << 40;
// The default of the per-session cap on one tensor (qsim_options.max_tensor_bytes, 2 GiB):
// ample for ImageNet-scale models at calibration batch sizes, far below what a hostile shape
// asks for. docs/LIMITS.md.
constexpr int64_t kDefaultMaxTensorBytes = int64_t{1} << 31;

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialised storage.
  Tensor(DType dtype, Shape shape);
  // Allocates storage the caller will overwrite entirely.
  static Tensor uninitialized(DType dtype, Shape shape);
  // A non-owning view of `data`, which must outlive the view.
  static Tensor view(DType dtype, Shape shape, void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t size() const { return element_count(shape_); }
  size_t byte_size() const { return static_cast<size_t>(size()) * dtype_size(dtype_); }
  bool empty() const { return data_ == nullptr && size() != 0; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T>
  T* data() {
    check_type(dtype_of<T>());
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    check_type(dtype_of<T>());
    return static_cast<const T*>(data_);
  }

  Tensor clone() const;
  // Same buffer, new shape of the same element count.
  Tensor reshaped(Shape shape) const;
  // Reads element i of an integer tensor (int32/int64/uint8/int8/bool) as int64.
  int64_t int_at(int64_t i) const;
  // Copies the contents out as int64 values (any integer dtype).
  std::vector<int64_t> to_int64_vector() const;
  std::string describe() const;  // "float32[1,3,8,8]"

 private:
  Tensor(DType dtype, Shape shape, bool zero);
  void check_type(DType requested) const;

  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
};

// Builds a 1-D int64 tensor (shape constants and the like).
Tensor make_int64_tensor(const std::vector<int64_t>& values);
Tensor make_scalar_float(float value);

}  // namespace qsim
