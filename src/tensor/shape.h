// Tensor shapes: dimension lists with element counts, strides and numpy broadcasting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qsim {

using Shape = std::vector<int64_t>;

int64_t element_count(const Shape& shape);
// The element count of `shape` in *count; false (and *count unset) when a dimension is
// negative or the product overflows int64. For shapes read from untrusted bytes.
bool checked_element_count(const Shape& shape, int64_t* count);
// Row-major (C order) strides in elements.
std::vector<int64_t> contiguous_strides(const Shape& shape);
// "[1,3,224,224]"
std::string shape_to_string(const Shape& shape);
// Numpy-style broadcast of two shapes; throws kShape naming `context` when they do not fit.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& context);
// Strides of `shape` seen through the broadcast `out` shape (0 on broadcast axes).
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out);
// Normalizes a possibly negative axis for a tensor of `rank`; throws kInvalidArgument.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& context);

}  // namespace qsim
