// Executes a Model: kernels are made (and attributes validated) at construction; a plan
// (value types, constant folding, arena offsets from tensor lifetimes) is made per set of
// input shapes and cached. The plans share one activation arena and one workspace, sized
// for the largest plan run so far, so a short last batch costs no memory of its own.
// A batch of two slices or more (runtime/batch_slices.h) whose graph treats images apart
// runs slice by slice, each pool thread taking whole slices with an arena of its own; other
// runs split each node's work over the pool. One Engine must not run on two threads at
// once; separate Engines are independent.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "runtime/execution_plan.h"
#include "runtime/kernel.h"
#include "runtime/registry.h"
#include "util/thread_pool.h"

namespace qsim {

struct EngineOptions {
  int num_threads = 1;
  // Rewrite the graph for inference when the engine is made (runtime/graph_fusion.h): fold
  // BatchNormalization into Conv and fuse activations into it. The engine then runs, and
  // RunHooks see, the rewritten graph (model()), whose intermediate tensors are gone; turn it
  // off to observe every tensor of the model as it is (QuantSim does).
  bool fuse_layers = true;
  // No value a plan declares (an output of a node, constant or not) may take more bytes than
  // this: a node asking for more fails with kOutOfMemory naming it before anything is
  // allocated (docs/LIMITS.md). At most kMaxTensorBytes.
  int64_t max_tensor_bytes = kDefaultMaxTensorBytes;
  // The worker threads, shared by the engines of one session (one run at a time uses it);
  // null: the engine makes its own of num_threads (ignored when `pool` is given).
  std::shared_ptr<ThreadPool> pool = nullptr;
};

// Optional callbacks of one run (QuantSim observes and fake-quantizes activations with them).
struct RunHooks {
  // Called after each executed node with its inputs and outputs (nullptr for omitted or
  // unused ones) before any consumer reads the outputs; may modify the outputs in place. The
  // inputs are still intact then: the arena never places a node's output over its inputs.
  // Nodes folded at plan time (all inputs constant) never reach it.
  std::function<void(size_t node_index, const Node& node, const std::vector<const Tensor*>& inputs,
                     const std::vector<Tensor*>& outputs)>
      after_node;
  // after_node keeps no state between calls (it only reads and rewrites the tensors it is
  // given), so it may be called from several threads at once, each time with the tensors of
  // one slice of the batch. Runs with a hook that is not reentrant are never sliced.
  bool reentrant = false;
};

// Op types of `model` the registry lacks, each with the first node using it.
std::map<std::string, std::string> find_unsupported_ops(const Model& model,
                                                        const KernelRegistry& registry);

class Engine {
 public:
  Engine(std::shared_ptr<const Model> model, const EngineOptions& options = {});
  ~Engine();

  // The graph the engine runs: the model, rewritten when EngineOptions::fuse_layers is set.
  const Model& model() const { return *model_; }
  int num_threads() const { return pool_->size(); }
  // Runs the graph; inputs follow model().graph.inputs order. Returns the graph outputs.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) { return run(inputs, RunHooks{}); }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, const RunHooks& hooks);
  // Throws kInvalidArgument naming the input when `inputs` do not fit the model.
  void check_inputs(const std::vector<Tensor>& inputs) const;
  // Output types for these input shapes (plans without running).
  std::vector<ValueType> output_types(const std::vector<Shape>& input_shapes,
                                      const std::vector<DType>& input_dtypes);

 private:
  // Plans for sets of input shapes and the memory they run in: the engine's own, for whole
  // batches, and one per pool thread for batch slices.
  struct Runner {
    std::map<std::vector<Shape>, std::unique_ptr<ExecutionPlan>> plans;
    Tensor arena;      // activations of the plan running
    Tensor workspace;  // kernel scratch of the step running
  };

  ExecutionPlan& plan_for(Runner& runner, const std::vector<Shape>& shapes,
                          const std::vector<DType>& dtypes, int threads);
  std::unique_ptr<ExecutionPlan> make_plan(const std::vector<Shape>& shapes,
                                           const std::vector<DType>& dtypes, int threads);
  // Arena offsets and workspace size of a new plan.
  void plan_memory(ExecutionPlan& plan);
  // Before a run: grows the runner's arena and workspace to what `plan` needs and points the
  // plan's views into the arena (again, when it has moved since the plan last ran).
  void bind_memory(Runner& runner, ExecutionPlan& plan);
  void check_inputs(const std::vector<Shape>& shapes, const std::vector<DType>& dtypes) const;
  // Throws kShape or kOutOfMemory naming `node` when output `o`'s shape is too large.
  void check_output_size(const Node& node, size_t o, DType dtype, const Shape& shape) const;
  // Runs the steps of a bound plan whose inputs are set.
  void execute(Runner& runner, ExecutionPlan& plan, const RunHooks& hooks, ThreadPool& pool);
  // How a batch of some input shapes runs: whole (no sizes), or as slices of these sizes
  // with the whole batch's output types and, per runner, its plans for a slice of
  // kSliceImages and for the last slice; all made once, on the calling thread (making a plan
  // runs the kernels' infer(), which may pack weights into the kernel).
  struct Slicing {
    std::vector<int64_t> sizes;
    std::vector<ValueType> outputs;
    std::vector<std::pair<ExecutionPlan*, ExecutionPlan*>> plans;
  };
  const Slicing& slicing_for(const std::vector<Shape>& shapes, const std::vector<DType>& dtypes);
  bool can_slice(const std::vector<Shape>& shapes, const std::vector<DType>& dtypes,
                 const std::vector<int64_t>& slice_sizes);
  std::vector<Tensor> run_whole(const std::vector<Tensor>& inputs, const std::vector<Shape>& shapes,
                                const std::vector<DType>& dtypes, const RunHooks& hooks);
  std::vector<Tensor> run_sliced(const std::vector<Tensor>& inputs, const Slicing& slicing,
                                 const RunHooks& hooks);

  std::shared_ptr<const Model> model_;
  int64_t max_tensor_bytes_;
  std::vector<std::unique_ptr<Kernel>> kernels_;  // one per node
  std::shared_ptr<ThreadPool> pool_;
  Runner whole_;
  std::vector<Runner> slice_runners_;  // one per pool thread
  ThreadPool serial_pool_{1};          // what a slice's nodes split their work over
  std::map<std::vector<Shape>, Slicing> slicing_;
};

}  // namespace qsim
