// The contract between the engine and an op implementation.
//
// A kernel object is made once per node when a model is loaded: its factory validates the
// node's attributes and throws kUnsupported (naming the node and attribute) for anything it
// does not implement, so nothing is ever computed wrongly. infer() runs once per input-shape
// plan: it checks input types and shapes, declares output types and shapes, and asks for
// scratch memory. run() computes. Kernels may cache data derived from constant inputs
// (packed weights) but nothing that depends on input shapes, since several plans can share
// one kernel.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "tensor/tensor.h"
#include "util/thread_pool.h"

namespace qsim {

// What planning knows about a value: its type, its shape and, when it is known at plan time
// (an initializer or folded from initializers and shapes), its contents.
struct ValueType {
  DType dtype = DType::kUndefined;
  Shape shape;
  const Tensor* constant = nullptr;
};

class InferContext {
 public:
  InferContext(const Node& node, std::vector<const ValueType*> inputs, int num_threads)
      : node_(node),
        inputs_(std::move(inputs)),
        outputs_(node.outputs.size()),
        num_threads_(num_threads) {}

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // Throws kInvalidArgument naming the node when input i is absent.
  const ValueType& input(size_t i) const;
  // The contents of input i, which must be known at plan time (shape-like inputs such as
  // Reshape's shape); throws kUnsupported naming `what` otherwise.
  const Tensor& constant_input(size_t i, const char* what) const;
  // Throws kInvalidArgument unless input i has dtype `expected`.
  void expect_dtype(size_t i, DType expected) const;

  void set_output(size_t i, DType dtype, Shape shape);
  // Declares output i known at plan time (e.g. Shape); the engine folds it.
  void set_constant_output(size_t i, Tensor value);
  void request_workspace(size_t bytes) { workspace_bytes_ = std::max(workspace_bytes_, bytes); }
  int num_threads() const { return num_threads_; }

  struct Output {
    DType dtype = DType::kUndefined;
    Shape shape;
    bool set = false;
    bool has_constant = false;
    Tensor constant;
  };
  const std::vector<Output>& outputs() const { return outputs_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  const Node& node_;
  std::vector<const ValueType*> inputs_;
  std::vector<Output> outputs_;
  size_t workspace_bytes_ = 0;
  int num_threads_;
};

// Views the caller's arrays of inputs and outputs, which must outlive it (the engine keeps
// them in its plan, so that a run allocates nothing per node).
class RunContext {
 public:
  RunContext(const Node& node, std::span<const Tensor* const> inputs,
             std::span<Tensor* const> outputs, void* workspace, size_t workspace_bytes,
             ThreadPool& pool)
      : node_(node),
        inputs_(inputs),
        outputs_(outputs),
        workspace_(workspace),
        workspace_bytes_(workspace_bytes),
        pool_(pool) {}

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const Tensor& input(size_t i) const { return *inputs_[i]; }
  size_t num_outputs() const { return outputs_.size(); }
  // Preallocated with the shape infer() declared; nullptr entries are unused outputs.
  Tensor& output(size_t i) const { return *outputs_[i]; }
  bool has_output(size_t i) const { return i < outputs_.size() && outputs_[i] != nullptr; }
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  ThreadPool& pool() const { return pool_; }

 private:
  const Node& node_;
  std::span<const Tensor* const> inputs_;
  std::span<Tensor* const> outputs_;
  void* workspace_;
  size_t workspace_bytes_;
  ThreadPool& pool_;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void infer(InferContext& ctx) = 0;
  virtual void run(RunContext& ctx) = 0;
};

// Makes the kernel for one node at the model's opset; throws kUnsupported for attributes or
// opset behaviour it does not implement.
using KernelFactory = std::function<std::unique_ptr<Kernel>(const Node& node, int64_t opset)>;

// Messages name the node: "Conv 'conv1': ...".
[[noreturn]] void fail_node(const Node& node, ErrorCode code, const std::string& message);
void require_node(bool condition, const Node& node, ErrorCode code, const std::string& message);
// Rejects any attribute of `node` not in `known` (kUnsupported), so unknown semantics never
// pass silently.
void check_known_attributes(const Node& node, std::initializer_list<const char*> known);
// A 0/1 attribute (absent: 0); any other value is kInvalidArgument naming the node.
bool read_flag(const Node& node, const char* attr);

}  // namespace qsim
