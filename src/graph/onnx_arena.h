// ONNX protobuf messages for import and export live on an arena: protobuf is not
// exception-safe when an allocation fails half-way (a message made but not yet linked into
// its parent leaks), while an arena frees every block it handed out, whatever happens.
#pragma once

#include <google/protobuf/arena.h>
#include <onnx/onnx_pb.h>

namespace qsim {

inline onnx::ModelProto& new_model_proto(google::protobuf::Arena& arena) {
  return *google::protobuf::Arena::CreateMessage<onnx::ModelProto>(&arena);
}

}  // namespace qsim
