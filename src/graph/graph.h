// qsim's own model IR. ONNX protobuf types never leave graph/onnx_*.cpp; everything else
// sees these plain structs. Original ONNX tensor and node names are kept verbatim so that
// exports can refer to them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qsim {

struct Attribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kGraph, kOther };
  Kind kind = Kind::kOther;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  // Attributes of one value, for the passes and tests that add them to nodes.
  static Attribute of_int(int64_t value);
  static Attribute of_float(float value);
  static Attribute of_ints(std::vector<int64_t> values);
  static Attribute of_floats(std::vector<float> values);
  static Attribute of_string(std::string value);
  static Attribute of_tensor(Tensor value);
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;               // "" for the default ONNX domain
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attributes;

  bool has(const std::string& attr) const { return attributes.count(attr) != 0; }
  // Typed attribute readers; a wrong kind throws kInvalidArgument naming the node.
  int64_t get_int(const std::string& attr, int64_t fallback) const;
  float get_float(const std::string& attr, float fallback) const;
  std::string get_string(const std::string& attr, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& attr, std::vector<int64_t> fallback = {}) const;
  std::vector<float> get_floats(const std::string& attr, std::vector<float> fallback = {}) const;
  // "Conv 'conv1'" for messages.
  std::string label() const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
};

// A dimension of a declared input/output: a fixed size, or symbolic (value < 0).
struct Dim {
  int64_t value = -1;
  std::string param;
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  int32_t onnx_type = 0;
  std::optional<std::vector<Dim>> dims;  // absent when the model does not say
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;  // topologically ordered
  std::map<std::string, Tensor> initializers;
  std::vector<ValueInfo> inputs;  // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;

  const Tensor* find_initializer(const std::string& name) const;
  bool is_initializer(const std::string& name) const { return initializers.count(name) != 0; }
};

struct Model {
  Graph graph;
  int64_t ir_version = 0;
  int64_t opset = 0;  // of the default domain
  // Every other domain the model imports, with its version (e.g. "com.microsoft": 1, for the
  // QDQ export's 16-bit QuantizeLinear/DequantizeLinear).
  std::map<std::string, int64_t> domain_opsets;
  std::string producer_name;
  std::string producer_version;
  std::string source_path;  // empty when loaded from memory
  // ModelProto.metadata_props: key -> value (an export's "qsim.target", ...).
  std::map<std::string, std::string> metadata;

  // Op type -> number of nodes.
  std::map<std::string, int64_t> op_counts() const;
  int64_t parameter_count() const;
};

// Reorders nodes topologically (stable for already-ordered graphs). Throws kParse naming the
// node for a cycle or an input nothing produces.
void sort_topologically(Graph& graph);

}  // namespace qsim
