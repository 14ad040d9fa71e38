// Element types qsim tensors can hold. Values match ONNX TensorProto.DataType.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace qsim {

enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,  // 16-bit Q/DQ containers (quant/qdq_export.h)
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
};

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
// Maps an ONNX TensorProto.DataType number to a DType; kUndefined when qsim lacks it.
DType dtype_from_onnx(int32_t onnx_type);
const char* onnx_type_name(int32_t onnx_type);

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kFloat32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kUInt8; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kInt8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kUInt16; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kInt16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kInt32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kInt64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

}  // namespace qsim
