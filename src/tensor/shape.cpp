#include "tensor/shape.h"

#include <sstream>

#include "util/error.h"

namespace qsim {

int64_t element_count(const Shape& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

bool checked_element_count(const Shape& shape, int64_t* count) {
  int64_t product = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(product, d, &product)) return false;
  *count = product;
  return true;
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& context) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(ErrorCode::kShape, context + ": shapes " + shape_to_string(a) + " and " +
                                  shape_to_string(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  std::vector<int64_t> own = contiguous_strides(shape);
  std::vector<int64_t> strides(out.size(), 0);
  size_t offset = out.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) strides[offset + i] = shape[i] == 1 ? 0 : own[i];
  return strides;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& context) {
  if (axis < -rank || axis >= rank)
    fail(ErrorCode::kInvalidArgument, context + ": axis " + std::to_string(axis) +
                                          " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

}  // namespace qsim
