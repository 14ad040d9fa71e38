#include "tensor/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace qsim {
namespace {

std::shared_ptr<void> allocate_aligned(size_t bytes, bool zero) {
  size_t rounded = round_to_line(bytes);
  if (rounded == 0) rounded = kTensorAlignment;
  void* memory = std::aligned_alloc(kTensorAlignment, rounded);
  if (memory == nullptr)
    fail(ErrorCode::kOutOfMemory, "cannot allocate " + std::to_string(bytes) + " bytes");
  if (zero) std::memset(memory, 0, rounded);
  return std::shared_ptr<void>(memory, [](void* p) { std::free(p); });
}

}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : Tensor(dtype, std::move(shape), true) {}

Tensor::Tensor(DType dtype, Shape shape, bool zero) : dtype_(dtype), shape_(std::move(shape)) {
  int64_t count = 1;
  for (int64_t d : shape_) {
    require(d >= 0, ErrorCode::kShape, "negative dimension in shape " + shape_to_string(shape_));
    require(d == 0 || count <= kMaxTensorBytes / d, ErrorCode::kOutOfMemory,
            "shape " + shape_to_string(shape_) + " is too large");
    count *= d;
  }
  require(count <= kMaxTensorBytes / static_cast<int64_t>(std::max<size_t>(1, dtype_size(dtype_))),
          ErrorCode::kOutOfMemory, "shape " + shape_to_string(shape_) + " is too large");
  storage_ = allocate_aligned(byte_size(), zero);
  data_ = storage_.get();
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
  return Tensor(dtype, std::move(shape), false);
}

Tensor Tensor::view(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Tensor Tensor::clone() const {
  Tensor copy = uninitialized(dtype_, shape_);
  if (byte_size() > 0) std::memcpy(copy.data_, data_, byte_size());
  return copy;
}

Tensor Tensor::reshaped(Shape shape) const {
  require(element_count(shape) == size(), ErrorCode::kShape,
          "cannot reshape " + describe() + " to " + shape_to_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

int64_t Tensor::int_at(int64_t i) const {
  switch (dtype_) {
    case DType::kInt64:
      return static_cast<const int64_t*>(data_)[i];
    case DType::kInt32:
      return static_cast<const int32_t*>(data_)[i];
    case DType::kUInt8:
      return static_cast<const uint8_t*>(data_)[i];
    case DType::kInt8:
      return static_cast<const int8_t*>(data_)[i];
    case DType::kUInt16:
      return static_cast<const uint16_t*>(data_)[i];
    case DType::kInt16:
      return static_cast<const int16_t*>(data_)[i];
    case DType::kBool:
      return static_cast<const bool*>(data_)[i] ? 1 : 0;
    default:
      fail(ErrorCode::kInvalidArgument, "expected an integer tensor, got " + describe());
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> values(static_cast<size_t>(size()));
  for (int64_t i = 0; i < size(); ++i) values[static_cast<size_t>(i)] = int_at(i);
  return values;
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_to_string(shape_);
}

void Tensor::check_type(DType requested) const {
  if (requested != dtype_)
    fail(ErrorCode::kInternal,
         std::string("tensor ") + describe() + " read as " + dtype_name(requested));
}

Tensor make_int64_tensor(const std::vector<int64_t>& values) {
  Tensor t(DType::kInt64, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

Tensor make_scalar_float(float value) {
  Tensor t(DType::kFloat32, {});
  *t.data<float>() = value;
  return t;
}

}  // namespace qsim
