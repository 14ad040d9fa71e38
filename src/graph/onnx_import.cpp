#include "graph/onnx_import.h"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "graph/onnx_arena.h"
#include "util/error.h"
#include "util/read_file.h"

namespace qsim {
namespace {

template <typename Message>
void parse_message(Message& message, const void* data, size_t size, const std::string& what) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    fail(ErrorCode::kUnsupported, what + " is larger than 2 GiB; use external data");
  google::protobuf::io::CodedInputStream stream(static_cast<const uint8_t*>(data),
                                                static_cast<int>(size));
  stream.SetRecursionLimit(64);
  if (!message.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    fail(ErrorCode::kParse, what + " is not a valid ONNX protobuf (truncated or corrupt)");
}

// A decimal external_data "offset" or "length": digits only (no sign, no exponent), at most
// kMaxTensorBytes.
int64_t external_number(const onnx::TensorProto& proto, const std::string& field,
                        const std::string& text) {
  int64_t value = 0;
  bool ok = !text.empty() && text.size() <= 15;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) value = value * 10 + (c - '0');
  }
  if (!ok || value > kMaxTensorBytes)
    fail(ErrorCode::kParse, "tensor '" + proto.name() + "': external_data " + field + " '" + text +
                                "' is not a whole number of bytes from 0 to 2^40");
  return value;
}

struct ExternalData {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;  // -1: as many bytes as the tensor needs
};

ExternalData external_data(const onnx::TensorProto& proto) {
  ExternalData d;
  for (const auto& kv : proto.external_data()) {
    if (kv.key() == "location") d.location = kv.value();
    if (kv.key() == "offset") d.offset = external_number(proto, "offset", kv.value());
    if (kv.key() == "length") d.length = external_number(proto, "length", kv.value());
  }
  return d;
}

// The external data file of `proto`, which must lie inside the model's folder `base_dir`: a
// relative path without ".." components that, symbolic links resolved, stays in the folder.
std::filesystem::path external_path(const onnx::TensorProto& proto, const std::string& location,
                                    const std::string& base_dir) {
  namespace fs = std::filesystem;
  auto refuse = [&](const std::string& why) {
    fail(ErrorCode::kParse,
         "tensor '" + proto.name() + "': external data location '" + location + "' " + why);
  };
  const fs::path rel(location);
  if (location.empty()) refuse("is empty");
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    refuse("is absolute; it must name a file in the model's folder");
  for (const fs::path& part : rel)
    if (part == "..") refuse("leaves the model's folder ('..')");
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(base_dir, ec), ec);
  const fs::path file = fs::weakly_canonical(fs::absolute(fs::path(base_dir) / rel, ec), ec);
  if (ec)
    fail(ErrorCode::kIo, "tensor '" + proto.name() + "': cannot resolve external data file '" +
                             location + "': " + ec.message());
  const auto [folder_end, file_it] =
      std::mismatch(folder.begin(), folder.end(), file.begin(), file.end());
  if (folder_end != folder.end() || file_it == file.end())
    refuse("resolves to '" + file.string() + "', outside the model's folder '" + folder.string() +
           "' (a symbolic link?)");
  return file;
}

// Reads the bytes of an external tensor after checking the declared offset and length
// against the file's real size, so nothing is allocated for data that is not there.
std::string read_external(const onnx::TensorProto& proto, const std::string& base_dir,
                          size_t expected_bytes) {
  const ExternalData d = external_data(proto);
  if (base_dir.empty())
    fail(ErrorCode::kInvalidArgument,
         "tensor '" + proto.name() +
             "' uses external data, which needs a model loaded from a path (qsim_create)");
  const std::filesystem::path path = external_path(proto, d.location, base_dir);
  const int64_t length = d.length < 0 ? static_cast<int64_t>(expected_bytes) : d.length;
  if (static_cast<size_t>(length) != expected_bytes)
    fail(ErrorCode::kParse, "tensor '" + proto.name() + "': external_data length " +
                                std::to_string(length) + " differs from the " +
                                std::to_string(expected_bytes) + " bytes of its shape");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(ErrorCode::kIo,
         "tensor '" + proto.name() + "': cannot open external data file '" + path.string() + "'");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<int64_t>(in.tellg());
  if (file_size < 0 || d.offset > file_size || length > file_size - d.offset)
    fail(ErrorCode::kParse, "tensor '" + proto.name() + "': external data file '" + path.string() +
                                "' holds " + std::to_string(file_size) +
                                " bytes, fewer than offset " + std::to_string(d.offset) +
                                " + length " + std::to_string(length));
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(d.offset);
  in.read(bytes.data(), length);
  if (in.gcount() != length)
    fail(ErrorCode::kIo,
         "tensor '" + proto.name() + "': cannot read external data file '" + path.string() + "'");
  return bytes;
}

template <typename T, typename Field>
void copy_typed_field(const Field& field, Tensor& t, const std::string& name) {
  if (static_cast<int64_t>(field.size()) != t.size())
    fail(ErrorCode::kParse, "tensor '" + name + "' holds " + std::to_string(field.size()) +
                                " values for shape " + shape_to_string(t.shape()));
  T* out = static_cast<T*>(t.raw());
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<T>(field[i]);
}

// How many values a tensor stores in its typed repeated field (not raw or external data).
int64_t typed_value_count(const onnx::TensorProto& proto, DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return proto.float_data_size();
    case DType::kInt64:
      return proto.int64_data_size();
    default:
      return proto.int32_data_size();
  }
}

Tensor convert_tensor(const onnx::TensorProto& proto, const std::string& base_dir) {
  DType dtype = dtype_from_onnx(proto.data_type());
  if (dtype == DType::kUndefined)
    fail(ErrorCode::kUnsupported, "tensor '" + proto.name() + "' has data type " +
                                      onnx_type_name(proto.data_type()) +
                                      ", which qsim does not support");
  Shape shape(proto.dims().begin(), proto.dims().end());
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(ErrorCode::kParse, "tensor '" + proto.name() + "' has a negative dimension");
    if (d > 0 && count > kMaxTensorBytes / d)
      fail(ErrorCode::kParse, "tensor '" + proto.name() + "' has an impossibly large shape");
    count *= d;
  }
  // Check the stored data covers the shape before allocating, so a corrupt shape cannot
  // make us allocate terabytes.
  if (proto.data_location() != onnx::TensorProto::EXTERNAL && proto.has_raw_data() &&
      proto.raw_data().size() != static_cast<size_t>(count) * dtype_size(dtype))
    fail(ErrorCode::kParse, "tensor '" + proto.name() + "' has " +
                                std::to_string(proto.raw_data().size()) +
                                " bytes of data for shape " + shape_to_string(shape));
  if (proto.data_location() != onnx::TensorProto::EXTERNAL && !proto.has_raw_data() &&
      typed_value_count(proto, dtype) != count)
    fail(ErrorCode::kParse, "tensor '" + proto.name() + "' holds " +
                                std::to_string(typed_value_count(proto, dtype)) +
                                " values for shape " + shape_to_string(shape));
  const size_t byte_count = static_cast<size_t>(count) * dtype_size(dtype);
  if (proto.data_location() == onnx::TensorProto::EXTERNAL || proto.has_raw_data()) {
    // External bytes are read (after checking the file holds them) before the tensor is
    // allocated, so a missing or short file costs no memory.
    std::string external;
    const std::string* bytes = &proto.raw_data();
    if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
      external = read_external(proto, base_dir, byte_count);
      bytes = &external;
    }
    if (bytes->size() != byte_count)
      fail(ErrorCode::kParse, "tensor '" + proto.name() + "' has " + std::to_string(bytes->size()) +
                                  " bytes of data for " + dtype_name(dtype) +
                                  shape_to_string(shape));
    Tensor t = Tensor::uninitialized(dtype, shape);
    if (!bytes->empty()) std::memcpy(t.raw(), bytes->data(), bytes->size());
    return t;
  }
  Tensor t(dtype, shape);
  switch (dtype) {
    case DType::kFloat32:
      copy_typed_field<float>(proto.float_data(), t, proto.name());
      break;
    case DType::kInt64:
      copy_typed_field<int64_t>(proto.int64_data(), t, proto.name());
      break;
    case DType::kInt32:
      copy_typed_field<int32_t>(proto.int32_data(), t, proto.name());
      break;
    case DType::kUInt8:
      copy_typed_field<uint8_t>(proto.int32_data(), t, proto.name());
      break;
    case DType::kInt8:
      copy_typed_field<int8_t>(proto.int32_data(), t, proto.name());
      break;
    case DType::kUInt16:
      copy_typed_field<uint16_t>(proto.int32_data(), t, proto.name());
      break;
    case DType::kInt16:
      copy_typed_field<int16_t>(proto.int32_data(), t, proto.name());
      break;
    case DType::kBool:
      copy_typed_field<bool>(proto.int32_data(), t, proto.name());
      break;
    case DType::kUndefined:
      break;
  }
  return t;
}

Attribute convert_attribute(const onnx::AttributeProto& proto, const std::string& base_dir) {
  Attribute a;
  switch (proto.type()) {
    case onnx::AttributeProto::FLOAT:
      a.kind = Attribute::Kind::kFloat;
      a.f = proto.f();
      break;
    case onnx::AttributeProto::INT:
      a.kind = Attribute::Kind::kInt;
      a.i = proto.i();
      break;
    case onnx::AttributeProto::STRING:
      a.kind = Attribute::Kind::kString;
      a.s = proto.s();
      break;
    case onnx::AttributeProto::TENSOR:
      a.kind = Attribute::Kind::kTensor;
      a.t = convert_tensor(proto.t(), base_dir);
      break;
    case onnx::AttributeProto::FLOATS:
      a.kind = Attribute::Kind::kFloats;
      a.floats.assign(proto.floats().begin(), proto.floats().end());
      break;
    case onnx::AttributeProto::INTS:
      a.kind = Attribute::Kind::kInts;
      a.ints.assign(proto.ints().begin(), proto.ints().end());
      break;
    case onnx::AttributeProto::STRINGS:
      a.kind = Attribute::Kind::kStrings;
      a.strings.assign(proto.strings().begin(), proto.strings().end());
      break;
    case onnx::AttributeProto::GRAPH:
      a.kind = Attribute::Kind::kGraph;
      break;
    default:
      a.kind = Attribute::Kind::kOther;
      break;
  }
  return a;
}

ValueInfo convert_value_info(const onnx::ValueInfoProto& proto) {
  ValueInfo v;
  v.name = proto.name();
  if (!proto.type().has_tensor_type()) return v;
  const auto& tt = proto.type().tensor_type();
  v.onnx_type = tt.elem_type();
  v.dtype = dtype_from_onnx(tt.elem_type());
  if (tt.has_shape()) {
    std::vector<Dim> dims;
    for (const auto& d : tt.shape().dim()) {
      Dim dim;
      if (d.has_dim_value()) dim.value = d.dim_value();
      dim.param = d.dim_param();
      dims.push_back(dim);
    }
    v.dims = dims;
  }
  return v;
}

// A Constant node's value, whichever attribute carries it.
Tensor constant_value(const Node& node) {
  const auto& attrs = node.attributes;
  if (attrs.count("value")) return attrs.at("value").t;
  if (attrs.count("value_float")) return make_scalar_float(attrs.at("value_float").f);
  if (attrs.count("value_floats")) {
    const auto& v = attrs.at("value_floats").floats;
    Tensor t(DType::kFloat32, {static_cast<int64_t>(v.size())});
    std::copy(v.begin(), v.end(), t.data<float>());
    return t;
  }
  if (attrs.count("value_int")) {
    Tensor t(DType::kInt64, {});
    *t.data<int64_t>() = attrs.at("value_int").i;
    return t;
  }
  if (attrs.count("value_ints")) return make_int64_tensor(attrs.at("value_ints").ints);
  fail(ErrorCode::kUnsupported,
       node.label() + ": only tensor, float and int constants are supported");
}

int64_t default_domain_opset(const onnx::ModelProto& proto) {
  int64_t opset = 0;
  for (const auto& id : proto.opset_import())
    if (id.domain().empty() || id.domain() == "ai.onnx") opset = id.version();
  return opset;
}

Graph convert_graph(const onnx::GraphProto& proto, const std::string& base_dir) {
  Graph g;
  g.name = proto.name();
  for (const auto& init : proto.initializer()) {
    if (init.name().empty()) fail(ErrorCode::kParse, "an initializer has no name");
    g.initializers[init.name()] = convert_tensor(init, base_dir);
  }
  for (const auto& in : proto.input())
    if (!g.is_initializer(in.name())) g.inputs.push_back(convert_value_info(in));
  for (const auto& out : proto.output()) g.outputs.push_back(convert_value_info(out));
  std::set<std::string> produced;
  for (int index = 0; index < proto.node_size(); ++index) {
    const onnx::NodeProto& np = proto.node(index);
    Node node;
    node.name = np.name();
    node.op_type = np.op_type();
    node.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    node.inputs.assign(np.input().begin(), np.input().end());
    node.outputs.assign(np.output().begin(), np.output().end());
    // Every ONNX op has a first output; kernels write it without asking.
    if (node.outputs.empty() || node.outputs[0].empty())
      fail(ErrorCode::kParse, node.label() + " (node " + std::to_string(index) +
                                  ") has no first output; every op needs one");
    for (const auto& out : node.outputs)
      if (!out.empty() && !produced.insert(out).second)
        fail(ErrorCode::kParse, node.label() + ": output '" + out + "' is produced twice");
    for (const auto& attr : np.attribute())
      node.attributes[attr.name()] = convert_attribute(attr, base_dir);
    if (node.op_type == "Constant" && node.domain.empty() && node.outputs.size() == 1) {
      g.initializers[node.outputs[0]] = constant_value(node);
      continue;
    }
    g.nodes.push_back(std::move(node));
  }
  if (g.outputs.empty()) fail(ErrorCode::kParse, "the graph has no outputs");
  sort_topologically(g);
  return g;
}

Model convert_model(const onnx::ModelProto& proto, const std::string& base_dir) {
  if (!proto.has_graph()) fail(ErrorCode::kParse, "the file holds no ONNX graph");
  Model m;
  m.ir_version = proto.ir_version();
  m.opset = default_domain_opset(proto);
  for (const auto& id : proto.opset_import())
    if (!id.domain().empty() && id.domain() != "ai.onnx")
      m.domain_opsets[id.domain()] = id.version();
  m.producer_name = proto.producer_name();
  m.producer_version = proto.producer_version();
  for (const auto& entry : proto.metadata_props()) m.metadata[entry.key()] = entry.value();
  if (m.opset == 0 && proto.opset_import_size() == 0) m.opset = 1;  // IR v2 and older
  if (m.opset < kMinOpset || m.opset > kMaxOpset)
    fail(ErrorCode::kUnsupported, "the model uses ONNX opset " + std::to_string(m.opset) +
                                      "; qsim supports opsets " + std::to_string(kMinOpset) +
                                      " to " + std::to_string(kMaxOpset) +
                                      " (re-export the model within that range)");
  m.graph = convert_graph(proto.graph(), base_dir);
  return m;
}

}  // namespace

Model load_onnx_memory(const void* data, size_t size, const std::string& base_dir) {
  if (data == nullptr || size == 0) fail(ErrorCode::kParse, "the model buffer is empty");
  google::protobuf::Arena arena;
  onnx::ModelProto& proto = new_model_proto(arena);
  parse_message(proto, data, size, "the model");
  return convert_model(proto, base_dir);
}

Model load_onnx_file(const std::string& path) {
  std::string bytes = read_file_bytes(path);
  if (bytes.empty()) fail(ErrorCode::kParse, "'" + path + "' is empty, not an ONNX model");
  google::protobuf::Arena arena;
  onnx::ModelProto& proto = new_model_proto(arena);
  try {
    parse_message(proto, bytes.data(), bytes.size(), "'" + path + "'");
    std::string dir = std::filesystem::path(path).parent_path().string();
    Model m = convert_model(proto, dir.empty() ? "." : dir);
    m.source_path = path;
    return m;
  } catch (const Error& e) {
    std::string message = e.what();
    if (message.find(path) == std::string::npos) message = "'" + path + "': " + message;
    throw Error(e.code(), message);
  }
}

Tensor load_tensor_proto_file(const std::string& path, std::string* name) {
  std::string bytes = read_file_bytes(path);
  onnx::TensorProto proto;
  parse_message(proto, bytes.data(), bytes.size(), "'" + path + "'");
  if (name) *name = proto.name();
  return convert_tensor(proto, std::filesystem::path(path).parent_path().string());
}

}  // namespace qsim
