// The ops qsim's runtime promises (issue #2); the conformance run covers every backend
// test that uses one of them.
#pragma once

#include <set>
#include <string>

namespace qsim::conformance {

inline const std::set<std::string>& listed_ops() {
  static const std::set<std::string> ops = {
      "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu",
      "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softmax", "Add", "Sub",
      "Mul", "Div", "Pow", "Sqrt", "Max", "Min", "MaxPool", "AveragePool", "GlobalAveragePool",
      "ReduceMean", "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice", "Squeeze",
      "Unsqueeze", "Gather", "Shape", "Cast", "Pad", "Resize", "Identity", "Constant",
      "ConstantOfShape", "QuantizeLinear", "DequantizeLinear"};
  return ops;
}

}  // namespace qsim::conformance
