#include "runtime/kernel.h"

#include <algorithm>

namespace qsim {

const ValueType& InferContext::input(size_t i) const {
  if (!has_input(i))
    fail_node(node_, ErrorCode::kInvalidArgument, "input " + std::to_string(i) + " is missing");
  return *inputs_[i];
}

const Tensor& InferContext::constant_input(size_t i, const char* what) const {
  const ValueType& v = input(i);
  if (v.constant == nullptr)
    fail_node(node_, ErrorCode::kUnsupported,
              std::string(what) + " (input '" + node_.inputs[i] +
                  "') must be known when the model is planned; qsim needs static shapes");
  return *v.constant;
}

void InferContext::expect_dtype(size_t i, DType expected) const {
  const ValueType& v = input(i);
  if (v.dtype != expected)
    fail_node(node_, ErrorCode::kInvalidArgument,
              "input '" + node_.inputs[i] + "' is " + dtype_name(v.dtype) + ", expected " +
                  dtype_name(expected));
}

void InferContext::set_output(size_t i, DType dtype, Shape shape) {
  if (i >= outputs_.size()) return;  // optional output the model does not name
  outputs_[i].dtype = dtype;
  outputs_[i].shape = std::move(shape);
  outputs_[i].set = true;
}

void InferContext::set_constant_output(size_t i, Tensor value) {
  if (i >= outputs_.size()) return;
  set_output(i, value.dtype(), value.shape());
  outputs_[i].has_constant = true;
  outputs_[i].constant = std::move(value);
}

void fail_node(const Node& node, ErrorCode code, const std::string& message) {
  fail(code, node.label() + ": " + message);
}

void require_node(bool condition, const Node& node, ErrorCode code, const std::string& message) {
  if (!condition) fail_node(node, code, message);
}

void check_known_attributes(const Node& node, std::initializer_list<const char*> known) {
  for (const auto& entry : node.attributes) {
    // Not a structured binding: clang before 16 cannot capture one in the lambda below.
    const std::string& name = entry.first;
    bool found = std::any_of(known.begin(), known.end(), [&](const char* k) { return name == k; });
    if (!found)
      fail_node(node, ErrorCode::kUnsupported, "attribute '" + name + "' is not supported");
  }
}

bool read_flag(const Node& node, const char* attr) {
  const int64_t v = node.get_int(attr, 0);
  require_node(v == 0 || v == 1, node, ErrorCode::kInvalidArgument,
               std::string(attr) + " must be 0 or 1");
  return v == 1;
}

}  // namespace qsim
