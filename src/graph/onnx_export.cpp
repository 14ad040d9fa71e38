#include "graph/onnx_export.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <limits>

#include "graph/onnx_arena.h"
#include "io/atomic_file.h"
#include "util/error.h"

namespace qsim {
namespace {

void fill_tensor(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  require(tensor.dtype() != DType::kUndefined, ErrorCode::kInternal,
          "tensor '" + name + "' has no data type");
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));  // DType values are ONNX's
  for (int64_t d : tensor.shape()) proto->add_dims(d);
  proto->set_raw_data(tensor.raw(), tensor.byte_size());
}

void fill_attribute(const Node& node, const std::string& name, const Attribute& a,
                    onnx::AttributeProto* proto) {
  proto->set_name(name);
  switch (a.kind) {
    case Attribute::Kind::kFloat:
      proto->set_type(onnx::AttributeProto::FLOAT);
      proto->set_f(a.f);
      return;
    case Attribute::Kind::kInt:
      proto->set_type(onnx::AttributeProto::INT);
      proto->set_i(a.i);
      return;
    case Attribute::Kind::kString:
      proto->set_type(onnx::AttributeProto::STRING);
      proto->set_s(a.s);
      return;
    case Attribute::Kind::kTensor:
      proto->set_type(onnx::AttributeProto::TENSOR);
      fill_tensor(a.t, "", proto->mutable_t());
      return;
    case Attribute::Kind::kFloats:
      proto->set_type(onnx::AttributeProto::FLOATS);
      proto->mutable_floats()->Assign(a.floats.begin(), a.floats.end());
      return;
    case Attribute::Kind::kInts:
      proto->set_type(onnx::AttributeProto::INTS);
      proto->mutable_ints()->Assign(a.ints.begin(), a.ints.end());
      return;
    case Attribute::Kind::kStrings:
      proto->set_type(onnx::AttributeProto::STRINGS);
      for (const auto& s : a.strings) proto->add_strings(s);
      return;
    case Attribute::Kind::kGraph:
    case Attribute::Kind::kOther:
      break;
  }
  fail(ErrorCode::kUnsupported, node.label() + ": attribute '" + name +
                                    "' is a subgraph or another kind the import did not keep, "
                                    "so the node cannot be exported");
}

void fill_node(const Node& node, const std::map<std::string, int64_t>& domain_opsets,
               onnx::NodeProto* proto) {
  // A node of a domain the model does not import (qsim's own fused ops among them) would be
  // written without a version to bind it to.
  if (!node.domain.empty() && domain_opsets.count(node.domain) == 0)
    fail(ErrorCode::kUnsupported, node.label() + ": nodes of domain '" + node.domain +
                                      "' cannot be exported: the model imports no version of it");
  proto->set_name(node.name);
  if (!node.domain.empty()) proto->set_domain(node.domain);
  proto->set_op_type(node.op_type);
  for (const auto& in : node.inputs) proto->add_input(in);
  for (const auto& out : node.outputs) proto->add_output(out);
  for (const auto& [name, attribute] : node.attributes)
    fill_attribute(node, name, attribute, proto->add_attribute());
}

void fill_value_info(const ValueInfo& info, onnx::ValueInfoProto* proto) {
  proto->set_name(info.name);
  auto* tensor_type = proto->mutable_type()->mutable_tensor_type();
  const int32_t elem_type = info.onnx_type != 0 ? info.onnx_type : static_cast<int32_t>(info.dtype);
  if (elem_type != 0) tensor_type->set_elem_type(elem_type);
  if (!info.dims) return;
  auto* shape = tensor_type->mutable_shape();
  for (const Dim& d : *info.dims) {
    auto* dim = shape->add_dim();
    if (d.value >= 0)
      dim->set_dim_value(d.value);
    else if (!d.param.empty())
      dim->set_dim_param(d.param);
  }
}

void fill_graph(const Graph& graph, const std::map<std::string, int64_t>& domain_opsets,
                onnx::GraphProto* proto) {
  proto->set_name(graph.name);
  for (const auto& [name, tensor] : graph.initializers)
    fill_tensor(tensor, name, proto->add_initializer());
  for (const auto& info : graph.inputs) fill_value_info(info, proto->add_input());
  for (const auto& info : graph.outputs) fill_value_info(info, proto->add_output());
  for (const auto& node : graph.nodes) fill_node(node, domain_opsets, proto->add_node());
}

}  // namespace

int64_t min_ir_version_for_opset(int64_t opset) {
  // From the ONNX versioning table (docs/Versioning.md): the IR release each opset came with.
  if (opset <= 8) return 3;
  if (opset == 9) return 4;
  if (opset == 10) return 5;
  if (opset == 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

std::string serialize_onnx(const Model& model, const std::map<std::string, std::string>& metadata) {
  google::protobuf::Arena arena;  // graph/onnx_arena.h: why
  onnx::ModelProto& proto = new_model_proto(arena);
  // Initializers are not listed as graph inputs, which IR 4 and later allow.
  proto.set_ir_version(
      std::max({model.ir_version, min_ir_version_for_opset(model.opset), int64_t{4}}));
  proto.set_producer_name("qsim");
  proto.set_producer_version(QSIM_VERSION_STRING);
  proto.add_opset_import()->set_version(model.opset);
  for (const auto& [domain, version] : model.domain_opsets) {
    onnx::OperatorSetIdProto* id = proto.add_opset_import();
    id->set_domain(domain);
    id->set_version(version);
  }
  std::map<std::string, std::string> all = metadata;
  all.insert(model.metadata.begin(), model.metadata.end());  // keeps `metadata`'s entries
  for (const auto& [key, value] : all) {
    onnx::StringStringEntryProto* entry = proto.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  fill_graph(model.graph, model.domain_opsets, proto.mutable_graph());
  if (proto.ByteSizeLong() >= static_cast<size_t>(std::numeric_limits<int>::max()))
    fail(ErrorCode::kUnsupported,
         "the model is 2 GiB or larger, which a single ONNX protobuf cannot hold");
  std::string bytes;
  if (!proto.SerializeToString(&bytes))
    fail(ErrorCode::kInternal, "the ONNX model could not be serialized");
  return bytes;
}

void save_onnx_file(const Model& model, const std::string& path) {
  write_file_atomically(path, serialize_onnx(model));
}

}  // namespace qsim
