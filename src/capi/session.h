// The object behind the opaque qsim_session handle.
#pragma once

#include <memory>

#include "graph/graph.h"
#include "qsim/qsim.h"
#include "runtime/engine.h"

struct qsim_session {
  std::shared_ptr<const qsim::Model> model;
  std::unique_ptr<qsim::Engine> engine;
  qsim_options options;
};

namespace qsim::capi {

// Copies the caller's options over the defaults, honouring its struct_size so callers built
// against an older, smaller qsim_options keep working.
qsim_options read_options(const qsim_options* options);
// The dtype and shape a caller's tensor declares (data is not looked at).
Shape shape_from_c(const qsim_tensor& t, const char* what, DType* dtype);
// A view of a caller's tensor; checks dtype, rank and byte size against each other.
Tensor tensor_from_c(const qsim_tensor& t, const char* what);
void describe_to_c(DType dtype, const Shape& shape, qsim_tensor* out);

}  // namespace qsim::capi
