// qsim IR -> ONNX, the inverse of onnx_import: graph, node and tensor names, attributes, the
// default-domain opset and the declared inputs and outputs (symbolic dimensions included) are
// written as they are. Initializers are written with raw data, in name order, and are not
// listed among the graph inputs; metadata_props are kept. The producer becomes qsim.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "graph/graph.h"

namespace qsim {

// The lowest ONNX IR version that may carry this default-domain opset.
int64_t min_ir_version_for_opset(int64_t opset);

// The serialized onnx.ModelProto, with `metadata` added to (or replacing entries of) the
// model's metadata_props. Throws kUnsupported for what the IR did not keep at import (subgraph
// attributes, nodes of other domains) and for models of 2 GiB or more.
std::string serialize_onnx(const Model& model,
                           const std::map<std::string, std::string>& metadata = {});

// Writes serialize_onnx(model) atomically; an unwritable path throws kIo naming it.
void save_onnx_file(const Model& model, const std::string& path);

}  // namespace qsim
