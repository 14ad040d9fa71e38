// One-node models for the kernel tests (tests/core/test_ops_*.cpp, the AdaRound lowering
// tests) and the kernel bench (bench/conv_micro.cpp): attribute values and a Model holding a
// single node. Free of Catch, so that the bench can use it.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"

namespace qsim::testing {

struct NodeSpec {
  NodeSpec(std::string op, int64_t opset, std::vector<std::string> inputs,
           std::map<std::string, Attribute> attributes = {},
           std::map<std::string, Tensor> constants = {}, std::vector<std::string> outputs = {"y"})
      : op(std::move(op)),
        opset(opset),
        inputs(std::move(inputs)),
        attributes(std::move(attributes)),
        constants(std::move(constants)),
        outputs(std::move(outputs)) {}
  std::string op;
  int64_t opset;
  std::vector<std::string> inputs;  // "" = omitted
  std::map<std::string, Attribute> attributes;
  std::map<std::string, Tensor> constants;  // inputs that are initializers
  std::vector<std::string> outputs;         // "" = unused
};

// A model of one node named "n": its inputs not in `constants` are graph inputs in order, its
// used outputs graph outputs, all of them of any type and shape.
inline std::shared_ptr<Model> one_node(const NodeSpec& spec) {
  auto model = std::make_shared<Model>();
  model->opset = spec.opset;
  Node node;
  node.name = "n";
  node.op_type = spec.op;
  node.inputs = spec.inputs;
  node.outputs = spec.outputs;
  node.attributes = spec.attributes;
  model->graph.nodes.push_back(node);
  for (const auto& name : spec.inputs)
    if (!name.empty() && !spec.constants.count(name))
      model->graph.inputs.push_back({name, DType::kUndefined, 0, {}});
  model->graph.initializers = spec.constants;
  for (const auto& name : spec.outputs)
    if (!name.empty()) model->graph.outputs.push_back({name, DType::kUndefined, 0, {}});
  return model;
}

inline std::shared_ptr<Model> one_node(std::string op, int64_t opset,
                                       std::vector<std::string> inputs,
                                       std::map<std::string, Attribute> attributes = {},
                                       std::map<std::string, Tensor> constants = {},
                                       std::vector<std::string> outputs = {"y"}) {
  return one_node(NodeSpec(std::move(op), opset, std::move(inputs), std::move(attributes),
                           std::move(constants), std::move(outputs)));
}

// A tensor of `shape` holding `values` (as many as the shape has elements).
template <typename T>
Tensor make_tensor(Shape shape, const std::vector<T>& values) {
  Tensor t(dtype_of<T>(), std::move(shape));
  if (static_cast<size_t>(t.size()) != values.size())
    throw std::invalid_argument("make_tensor: " + std::to_string(values.size()) +
                                " values for a shape of " + std::to_string(t.size()) + " elements");
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.size());
}

}  // namespace qsim::testing
