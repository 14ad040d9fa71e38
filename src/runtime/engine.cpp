#include "runtime/engine.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_map>

#include "runtime/batch_slices.h"
#include "runtime/blas.h"
#include "runtime/graph_fusion.h"
#include "runtime/memory_plan.h"

namespace qsim {

std::map<std::string, std::string> find_unsupported_ops(const Model& model,
                                                        const KernelRegistry& registry) {
  std::map<std::string, std::string> missing;
  for (const Node& n : model.graph.nodes) {
    if (registry.find(n.op_type, n.domain) != nullptr) continue;
    std::string key = n.domain.empty() ? n.op_type : n.domain + "::" + n.op_type;
    missing.emplace(key, n.name.empty() ? n.outputs.at(0) : n.name);
  }
  return missing;
}

Engine::Engine(std::shared_ptr<const Model> model, const EngineOptions& options)
    : model_(options.fuse_layers ? std::make_shared<const Model>(fuse_for_inference(*model))
                                 : std::move(model)),
      max_tensor_bytes_(std::clamp<int64_t>(options.max_tensor_bytes, 0, kMaxTensorBytes)),
      pool_(options.pool ? options.pool : std::make_shared<ThreadPool>(options.num_threads)) {
  const KernelRegistry& registry = default_registry();
  auto missing = find_unsupported_ops(*model_, registry);
  if (!missing.empty()) {
    std::string list;
    for (const auto& [op, node] : missing)
      list += (list.empty() ? "" : ", ") + op + " (node '" + node + "')";
    fail(ErrorCode::kUnsupported, "unsupported ops: " + list);
  }
  for (const Node& n : model_->graph.nodes)
    kernels_.push_back((*registry.find(n.op_type, n.domain))(n, model_->opset));
}

Engine::~Engine() = default;

void Engine::check_inputs(const std::vector<Shape>& shapes,
                          const std::vector<DType>& dtypes) const {
  const auto& declared = model_->graph.inputs;
  require(shapes.size() == declared.size(), ErrorCode::kInvalidArgument,
          "the model has " + std::to_string(declared.size()) + " inputs, " +
              std::to_string(shapes.size()) + " given");
  for (size_t i = 0; i < declared.size(); ++i) {
    const ValueInfo& v = declared[i];
    if (v.dtype == DType::kUndefined && v.onnx_type != 0)
      fail(ErrorCode::kUnsupported, "input '" + v.name + "' is declared " +
                                        onnx_type_name(v.onnx_type) +
                                        ", a data type qsim does not support");
    if (v.dtype != DType::kUndefined && dtypes[i] != v.dtype)
      fail(ErrorCode::kInvalidArgument, "input '" + v.name + "' must be " + dtype_name(v.dtype) +
                                            ", got " + dtype_name(dtypes[i]));
    if (!v.dims) continue;
    bool fits = v.dims->size() == shapes[i].size();
    for (size_t d = 0; fits && d < shapes[i].size(); ++d)
      fits = (*v.dims)[d].value < 0 || (*v.dims)[d].value == shapes[i][d];
    if (!fits) {
      Shape want;
      for (const Dim& d : *v.dims) want.push_back(d.value);
      fail(ErrorCode::kShape, "input '" + v.name + "' has shape " + shape_to_string(shapes[i]) +
                                  ", the model expects " + shape_to_string(want) + " (-1 = any)");
    }
  }
}

void Engine::check_output_size(const Node& node, size_t o, DType dtype, const Shape& shape) const {
  int64_t count = 0;
  if (!checked_element_count(shape, &count))
    fail_node(node, ErrorCode::kShape,
              "output '" + node.outputs[o] + "' has an impossible shape " + shape_to_string(shape));
  const auto element_bytes = static_cast<int64_t>(std::max<size_t>(1, dtype_size(dtype)));
  if (count > max_tensor_bytes_ / element_bytes)
    fail_node(
        node, ErrorCode::kOutOfMemory,
        "output '" + node.outputs[o] + "' " + dtype_name(dtype) + shape_to_string(shape) +
            " would take " +
            (count > kMaxTensorBytes ? "more than 2^40" : std::to_string(count * element_bytes)) +
            " bytes, more than the session's limit of " + std::to_string(max_tensor_bytes_) +
            " bytes per tensor (qsim_options.max_tensor_bytes)");
}

std::unique_ptr<ExecutionPlan> Engine::make_plan(const std::vector<Shape>& shapes,
                                                 const std::vector<DType>& dtypes, int threads) {
  const Graph& g = model_->graph;
  auto plan = std::make_unique<ExecutionPlan>();
  std::unordered_map<std::string, int> ids;
  auto new_value = [&](const std::string& name) {
    int id = static_cast<int>(plan->types.size());
    ids[name] = id;
    plan->types.emplace_back();
    plan->constants.emplace_back();
    return id;
  };
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    int id = new_value(g.inputs[i].name);
    plan->types[id] = {dtypes[i], shapes[i], nullptr};
    plan->input_ids.push_back(id);
  }
  for (const auto& [name, tensor] : g.initializers) {
    if (ids.count(name)) continue;  // a graph input overrides its default initializer
    int id = new_value(name);
    plan->constants[id] = tensor;
    plan->types[id] = {tensor.dtype(), tensor.shape(), nullptr};
  }
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    ExecutionPlan::Step step{n, {}, {}, 0, {}, {}};
    std::vector<const ValueType*> in_types;
    bool all_constant = true;
    for (const auto& name : node.inputs) {
      if (name.empty()) {
        step.inputs.push_back(-1);
        in_types.push_back(nullptr);
        continue;
      }
      int id = ids.at(name);
      ValueType& t = plan->types[id];
      bool is_const = plan->constants[id].dtype() != DType::kUndefined;
      t.constant = is_const ? &plan->constants[id] : nullptr;
      all_constant = all_constant && is_const;
      step.inputs.push_back(id);
      in_types.push_back(&t);
    }
    InferContext ctx(node, in_types, threads);
    kernels_[n]->infer(ctx);
    bool folded_by_kernel = false;
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const auto& out = ctx.outputs()[o];
      if (node.outputs[o].empty()) {
        step.outputs.push_back(-1);
        continue;
      }
      require_node(out.set, node, ErrorCode::kInternal,
                   "output " + std::to_string(o) + " has no type");
      check_output_size(node, o, out.dtype, out.shape);
      int id = new_value(node.outputs[o]);
      plan->types[id] = {out.dtype, out.shape, nullptr};
      if (out.has_constant) {
        plan->constants[id] = out.constant;
        folded_by_kernel = true;
      }
      step.outputs.push_back(id);
    }
    step.workspace_bytes = ctx.workspace_bytes();
    if (folded_by_kernel) continue;
    if (all_constant) {
      // Fold now: compute into owned tensors that become constants of the plan.
      std::vector<const Tensor*> ins;
      for (int id : step.inputs) ins.push_back(id < 0 ? nullptr : &plan->constants[id]);
      std::vector<Tensor*> outs;
      for (int id : step.outputs) {
        if (id >= 0) plan->constants[id] = Tensor(plan->types[id].dtype, plan->types[id].shape);
        outs.push_back(id < 0 ? nullptr : &plan->constants[id]);
      }
      Tensor scratch(DType::kUInt8, {static_cast<int64_t>(step.workspace_bytes)});
      RunContext run_ctx(node, ins, outs, scratch.raw(), step.workspace_bytes, *pool_);
      kernels_[n]->run(run_ctx);
      continue;
    }
    plan->steps.push_back(std::move(step));
  }
  for (const auto& out : g.outputs) plan->output_ids.push_back(ids.at(out.name));
  return plan;
}

ExecutionPlan& Engine::plan_for(Runner& runner, const std::vector<Shape>& shapes,
                                const std::vector<DType>& dtypes, int threads) {
  auto it = runner.plans.find(shapes);
  if (it == runner.plans.end()) {
    auto plan = make_plan(shapes, dtypes, threads);
    plan_memory(*plan);
    it = runner.plans.emplace(shapes, std::move(plan)).first;
  }
  return *it->second;
}

void Engine::plan_memory(ExecutionPlan& plan) {
  const size_t n_values = plan.types.size();
  std::vector<Lifetime> lifetimes(n_values);
  std::vector<bool> in_arena(n_values, false);
  const size_t end_of_run = plan.steps.size();
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    for (int id : plan.steps[s].outputs) {
      if (id < 0) continue;
      in_arena[id] = true;
      lifetimes[id] = {
          s, s,
          round_to_line(plan.types[id].shape.empty() ? dtype_size(plan.types[id].dtype)
                                                     : element_count(plan.types[id].shape) *
                                                           dtype_size(plan.types[id].dtype))};
    }
    for (int id : plan.steps[s].inputs)
      if (id >= 0 && in_arena[id]) lifetimes[id].last = s;
  }
  for (int id : plan.output_ids)
    if (in_arena[id]) lifetimes[id].last = end_of_run;
  std::vector<Lifetime> arena_lifetimes;
  for (size_t id = 0; id < n_values; ++id) {
    if (!in_arena[id]) continue;
    plan.arena_ids.push_back(id);
    arena_lifetimes.push_back(lifetimes[id]);
  }
  plan.arena_offsets = assign_offsets(arena_lifetimes, &plan.arena_bytes);
  for (const auto& step : plan.steps)
    plan.workspace_bytes = std::max(plan.workspace_bytes, step.workspace_bytes);
  plan.views.assign(n_values, Tensor());
  for (size_t id = 0; id < n_values; ++id)
    if (plan.constants[id].dtype() != DType::kUndefined) plan.views[id] = plan.constants[id];
  for (auto& step : plan.steps) {
    for (int id : step.inputs) step.input_views.push_back(id < 0 ? nullptr : &plan.views[id]);
    for (int id : step.outputs) step.output_views.push_back(id < 0 ? nullptr : &plan.views[id]);
  }
}

namespace {

// `buffer`, reallocated when it holds fewer than `bytes`.
void grow(Tensor& buffer, size_t bytes) {
  if (buffer.raw() != nullptr && buffer.byte_size() >= bytes) return;
  buffer = Tensor(DType::kUInt8, {static_cast<int64_t>(std::max<size_t>(bytes, 1))});
}

}  // namespace

void Engine::bind_memory(Runner& runner, ExecutionPlan& plan) {
  grow(runner.arena, plan.arena_bytes);
  grow(runner.workspace, plan.workspace_bytes);
  if (plan.bound_arena == runner.arena.raw()) return;
  auto* base = static_cast<uint8_t*>(runner.arena.raw());
  for (size_t k = 0; k < plan.arena_ids.size(); ++k) {
    const size_t id = plan.arena_ids[k];
    plan.views[id] =
        Tensor::view(plan.types[id].dtype, plan.types[id].shape, base + plan.arena_offsets[k]);
  }
  plan.bound_arena = runner.arena.raw();
}

namespace {

std::pair<std::vector<Shape>, std::vector<DType>> types_of(const std::vector<Tensor>& tensors) {
  std::pair<std::vector<Shape>, std::vector<DType>> types;
  for (const Tensor& t : tensors) {
    types.first.push_back(t.shape());
    types.second.push_back(t.dtype());
  }
  return types;
}

}  // namespace

void Engine::check_inputs(const std::vector<Tensor>& inputs) const {
  const auto [shapes, dtypes] = types_of(inputs);
  check_inputs(shapes, dtypes);
}

std::vector<Tensor> Engine::run(const std::vector<Tensor>& inputs, const RunHooks& hooks) {
  BlasSingleThreadScope one_blas_thread;
  const auto [shapes, dtypes] = types_of(inputs);
  check_inputs(shapes, dtypes);
  if (hooks.after_node && !hooks.reentrant) return run_whole(inputs, shapes, dtypes, hooks);
  const Slicing& slicing = slicing_for(shapes, dtypes);
  if (slicing.sizes.empty()) return run_whole(inputs, shapes, dtypes, hooks);
  return run_sliced(inputs, slicing, hooks);
}

void Engine::execute(Runner& runner, ExecutionPlan& plan, const RunHooks& hooks, ThreadPool& pool) {
  const Graph& g = model_->graph;
  for (const auto& step : plan.steps) {
    RunContext ctx(g.nodes[step.node], step.input_views, step.output_views, runner.workspace.raw(),
                   step.workspace_bytes, pool);
    kernels_[step.node]->run(ctx);
    if (hooks.after_node)
      hooks.after_node(step.node, g.nodes[step.node], step.input_views, step.output_views);
  }
}

std::vector<Tensor> Engine::run_whole(const std::vector<Tensor>& inputs,
                                      const std::vector<Shape>& shapes,
                                      const std::vector<DType>& dtypes, const RunHooks& hooks) {
  ExecutionPlan& plan = plan_for(whole_, shapes, dtypes, pool_->size());
  bind_memory(whole_, plan);
  for (size_t i = 0; i < inputs.size(); ++i) plan.views[plan.input_ids[i]] = inputs[i];
  execute(whole_, plan, hooks, *pool_);
  std::vector<Tensor> outputs;
  for (int id : plan.output_ids) outputs.push_back(plan.views[id].clone());
  for (int id : plan.input_ids) plan.views[id] = Tensor();  // drop references to caller memory
  return outputs;
}

namespace {

std::vector<Shape> with_batch(std::vector<Shape> shapes, int64_t batch) {
  for (Shape& s : shapes) s[0] = batch;
  return shapes;
}

// The first dimension all `shapes` share; -1 when they do not.
int64_t common_batch(const std::vector<Shape>& shapes) {
  int64_t batch = -1;
  for (const Shape& s : shapes) {
    if (s.empty() || (batch >= 0 && s[0] != batch)) return -1;
    batch = s[0];
  }
  return batch;
}

// Rows [first, first + count) of a batch-leading tensor, viewed in place.
Tensor batch_rows(const Tensor& t, int64_t first, int64_t count) {
  Shape shape = t.shape();
  const size_t row_bytes = t.byte_size() / static_cast<size_t>(shape[0]);
  shape[0] = count;
  // Kernels only read their inputs; the view is non-const because Tensor views are.
  auto* data = const_cast<uint8_t*>(static_cast<const uint8_t*>(t.raw()));
  return Tensor::view(t.dtype(), shape, data + static_cast<size_t>(first) * row_bytes);
}

}  // namespace

const Engine::Slicing& Engine::slicing_for(const std::vector<Shape>& shapes,
                                           const std::vector<DType>& dtypes) {
  auto it = slicing_.find(shapes);
  if (it != slicing_.end()) return it->second;
  Slicing slicing;
  slicing.sizes = batch_slice_sizes(common_batch(shapes));
  if (!slicing.sizes.empty() && !can_slice(shapes, dtypes, slicing.sizes)) slicing.sizes.clear();
  if (!slicing.sizes.empty()) {
    slicing.outputs = output_types(shapes, dtypes);
    const auto full = with_batch(shapes, kSliceImages);
    const auto last = with_batch(shapes, slicing.sizes.back());
    const size_t runners = std::min(slice_runners_.size(), slicing.sizes.size());
    for (size_t r = 0; r < runners; ++r)
      slicing.plans.emplace_back(&plan_for(slice_runners_[r], full, dtypes, 1),
                                 &plan_for(slice_runners_[r], last, dtypes, 1));
  }
  return slicing_.emplace(shapes, std::move(slicing)).first->second;
}

bool Engine::can_slice(const std::vector<Shape>& shapes, const std::vector<DType>& dtypes,
                       const std::vector<int64_t>& slice_sizes) {
  // The whole batch's plan first: an error there is the caller's, whether or not it slices.
  const ExecutionPlan& whole = plan_for(whole_, shapes, dtypes, pool_->size());
  if (slice_runners_.empty()) slice_runners_.resize(static_cast<size_t>(pool_->size()));
  for (int64_t size : {slice_sizes.front(), slice_sizes.back()}) {
    const ExecutionPlan* slice = nullptr;
    try {
      slice = &plan_for(slice_runners_[0], with_batch(shapes, size), dtypes, 1);
    } catch (const Error&) {
      return false;  // e.g. a Reshape to a fixed batch size
    }
    if (!runs_image_by_image(model_->graph, model_->opset, whole, *slice, shapes[0][0], size))
      return false;
  }
  return true;
}

std::vector<Tensor> Engine::run_sliced(const std::vector<Tensor>& inputs, const Slicing& slicing,
                                       const RunHooks& hooks) {
  std::vector<Tensor> outputs;
  for (const ValueType& type : slicing.outputs) outputs.emplace_back(type.dtype, type.shape);
  auto run_slice = [&](size_t r, int64_t first, int64_t size) {
    Runner& runner = slice_runners_[r];
    const auto [full, last] = slicing.plans[r];
    ExecutionPlan& plan = size == kSliceImages ? *full : *last;
    bind_memory(runner, plan);
    for (size_t i = 0; i < inputs.size(); ++i)
      plan.views[plan.input_ids[i]] = batch_rows(inputs[i], first, size);
    execute(runner, plan, hooks, serial_pool_);
    for (size_t o = 0; o < outputs.size(); ++o) {
      Tensor rows = batch_rows(outputs[o], first, size);
      std::memcpy(rows.raw(), plan.views[plan.output_ids[o]].raw(), rows.byte_size());
    }
    for (int id : plan.input_ids) plan.views[id] = Tensor();
  };
  // Threads take the next slice as they become free, so one the machine holds back takes
  // fewer; which thread runs a slice never changes its result.
  const int64_t slices = static_cast<int64_t>(slicing.sizes.size());
  std::atomic<int64_t> next_slice{0};
  pool_->parallel_for(static_cast<int64_t>(slicing.plans.size()), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t s = next_slice++; s < slices; s = next_slice++)
        run_slice(static_cast<size_t>(r), s * kSliceImages, slicing.sizes[s]);
  });
  return outputs;
}

std::vector<ValueType> Engine::output_types(const std::vector<Shape>& input_shapes,
                                            const std::vector<DType>& input_dtypes) {
  check_inputs(input_shapes, input_dtypes);
  ExecutionPlan& plan = plan_for(whole_, input_shapes, input_dtypes, pool_->size());
  std::vector<ValueType> types;
  for (int id : plan.output_ids)
    types.push_back({plan.types[id].dtype, plan.types[id].shape, nullptr});
  return types;
}

}  // namespace qsim
