#include "quant/quantsim.h"

#include <algorithm>

#include "io/sha256.h"
#include "quant/weight_rounding.h"
#include "util/error.h"

namespace qsim {
namespace {

// The values of channel `c` along `axis` (all values when axis < 0), gathered contiguously.
std::vector<float> channel_values(const Tensor& values, int axis, int64_t c) {
  if (axis < 0)
    return std::vector<float>(values.data<float>(), values.data<float>() + values.size());
  const int64_t channels = values.dim(axis);
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < values.rank(); ++d) inner *= values.dim(d);
  const int64_t outer = values.size() / (channels * inner);
  std::vector<float> out;
  out.reserve(static_cast<size_t>(outer * inner));
  for (int64_t o = 0; o < outer; ++o) {
    const float* block = values.data<float>() + (o * channels + c) * inner;
    out.insert(out.end(), block, block + inner);
  }
  return out;
}

// A parameter's encoding from its values: MinMax directly, other methods through one
// observer per channel.
Encoding encode_param(const Tensor& values, const ParamQuantizer& q, CalibrationMethod method,
                      const ObserverOptions& options) {
  const std::string what = "parameter '" + q.tensor + "' of " + q.layer;
  if (method == CalibrationMethod::kMinMax)
    return encode_from_values(values, q.bitwidth, q.symmetry, q.axis, what);
  Encoding enc;
  enc.bitwidth = q.bitwidth;
  enc.symmetry = q.symmetry;
  enc.axis = q.axis;
  const int64_t channels = q.axis < 0 ? 1 : values.dim(q.axis);
  for (int64_t c = 0; c < channels; ++c) {
    const std::vector<float> data = channel_values(values, q.axis, c);
    auto observer = make_observer(method, options, what);
    observer->observe(data.data(), static_cast<int64_t>(data.size()));
    require(observer->nan_inf_count() == 0, ErrorCode::kNumeric,
            what + ": holds NaN or Inf, which cannot be quantized");
    enc.channels.push_back(observer->encoding(q.bitwidth, q.symmetry));
  }
  return enc;
}

// A parameter's encoding for the session's target: under Target::kOrtAvx2, an 8-bit weight
// that ONNX Runtime's U8S8 kernels read keeps 8 bits only where its pair sums cannot saturate.
Encoding encode_param_for(Target target, const Tensor& values, const ParamQuantizer& q,
                          CalibrationMethod method, const ObserverOptions& options) {
  Encoding encoding = encode_param(values, q, method, options);
  if (target != Target::kOrtAvx2 || !q.u8s8_kernel || q.bitwidth != 8) return encoding;
  ParamQuantizer reduced = q;
  reduced.bitwidth = 7;
  return ort_avx2_weight_encoding(values, encoding, encode_param(values, reduced, method, options),
                                  q.channel_axis);
}

Encoding per_tensor(int bitwidth, Symmetry symmetry, ChannelEncoding channel) {
  Encoding enc;
  enc.bitwidth = bitwidth;
  enc.symmetry = symmetry;
  enc.channels.push_back(channel);
  return enc;
}

// The grid an activation's encoding_constraints impose on the calibrated one.
ChannelEncoding constrain(const ChannelEncoding& calibrated, const ActivationQuantizer& q) {
  if (!q.constraint.min && !q.constraint.max) return calibrated;
  return compute_channel_encoding(q.constraint.min.value_or(calibrated.min()),
                                  q.constraint.max.value_or(calibrated.max(q.bitwidth)), q.bitwidth,
                                  q.symmetry, q.tensor);
}

const Encoding* find_encoding(const std::map<std::string, Encoding>& encodings,
                              const std::string& tensor) {
  auto it = encodings.find(tensor);
  return it == encodings.end() ? nullptr : &it->second;
}

bool fixed_by_config(const ActivationQuantizer& q) {
  return q.constraint.min.has_value() && q.constraint.max.has_value();
}

bool same_grid(const std::optional<Encoding>& a, const std::optional<Encoding>& b) {
  TensorEncoding x, y;
  x.encoding = a;
  y.encoding = b;
  return x == y;
}

bool model_has_tensor(const Graph& g, const std::string& name) {
  if (g.is_initializer(name)) return true;
  for (const auto& v : g.inputs)
    if (v.name == name) return true;
  for (const Node& n : g.nodes)
    if (std::find(n.outputs.begin(), n.outputs.end(), name) != n.outputs.end()) return true;
  return false;
}

void check_activation_encoding(const Encoding& enc, const std::string& what) {
  check_bitwidth(enc.bitwidth, what);
  check_grid(enc, what);
  require(!enc.per_channel() && enc.channels.size() == 1, ErrorCode::kUnsupported,
          what + ": per-channel activation encodings are not supported");
}

// The int32 grid of bias `q` at input_scale * weight_scale (per channel when the weight is),
// or nothing while the input or the weight has no encoding.
std::optional<Encoding> int32_bias_encoding(const ParamQuantizer& q,
                                            const std::map<std::string, Encoding>& activations,
                                            const std::map<std::string, Encoding>& params) {
  auto input = activations.find(q.bias_input);
  auto weight = params.find(q.bias_weight);
  if (input == activations.end() || weight == params.end()) return std::nullopt;
  // ONNX Runtime's tools multiply the float32 scales the same way.
  const float input_scale = input->second.channels.at(0).scale;
  Encoding bias;
  bias.bitwidth = q.bitwidth;
  bias.symmetry = q.symmetry;
  // The weight's encoding decides, not the placement: a loaded file may be per tensor.
  bias.axis = weight->second.per_channel() ? 0 : -1;
  for (const ChannelEncoding& w : weight->second.channels) {
    ChannelEncoding c;
    c.scale = input_scale * w.scale;
    c.offset = static_cast<int32_t>(-(int64_t{1} << (q.bitwidth - 1)));
    bias.channels.push_back(c);
  }
  return bias;
}

}  // namespace

QuantSim::QuantSim(const Model& model, QuantSimOptions options) : options_(std::move(options)) {
  check_bitwidth(options_.weight_bitwidth, "weight bit width");
  check_bitwidth(options_.activation_bitwidth, "activation bit width");
  config_ = options_.config ? *options_.config : default_quantsim_config(false);
  // One pool for the float and the quantized engines and every engine a commit makes.
  if (!options_.thread_pool)
    options_.thread_pool = std::make_shared<ThreadPool>(options_.num_threads);
  if (options_.per_channel) config_.per_channel = *options_.per_channel;
  TransformedModel transformed = apply_transforms(model, options_.transforms);
  transformed_ = std::move(transformed.applied);
  layer_statistics_ = std::move(transformed.statistics);
  const std::vector<std::string> transform_notes = std::move(transformed.notes);
  float_model_ = std::make_shared<const Model>(std::move(transformed.model));
  if (options_.model_fingerprint.empty() && !model.source_path.empty())
    options_.model_fingerprint = sha256_file_hex(model.source_path);
  encodings_target_ = options_.target;
  placement_ = place_quantizers(*float_model_, config_,
                                {options_.weight_bitwidth, options_.activation_bitwidth});
  placement_.notes.insert(placement_.notes.end(), transform_notes.begin(), transform_notes.end());
  float_engine_ = make_engine(float_model_);
  commit(initial_encodings());
}

QuantSim::~QuantSim() = default;

QuantSim::Encodings QuantSim::initial_encodings() const {
  Encodings result;
  for (const ParamQuantizer& q : placement_.params) {
    if (q.derived_scale()) continue;
    const Tensor& values = *float_model_->graph.find_initializer(q.tensor);
    result.params[q.tensor] = encode_param_for(options_.target, values, q, options_.weight_method,
                                               options_.observer_options);
  }
  for (const ActivationQuantizer& q : placement_.activations)
    if (fixed_by_config(q))
      result.activations[q.tensor] =
          per_tensor(q.bitwidth, q.symmetry,
                     compute_channel_encoding(*q.constraint.min, *q.constraint.max, q.bitwidth,
                                              q.symmetry, q.tensor));
  return result;
}

void QuantSim::derive_bias_encodings(Encodings& encodings,
                                     const std::set<std::string>& keep) const {
  for (const ParamQuantizer& q : placement_.params) {
    if (!q.derived_scale() || keep.count(q.tensor) != 0) continue;
    encodings.params.erase(q.tensor);
    if (auto bias = int32_bias_encoding(q, encodings.activations, encodings.params))
      encodings.params[q.tensor] = std::move(*bias);
  }
  encodings.implied_biases.clear();
  for (const ParamQuantizer& q : placement_.implied_int32_biases)
    if (auto bias = int32_bias_encoding(q, encodings.activations, encodings.params))
      encodings.implied_biases[q.tensor] = std::move(*bias);
}

void QuantSim::commit(Encodings encodings) {
  EncodingSet params;
  for (const auto& [name, enc] : encodings.params)
    params.params.push_back({name, placement_.find_param(name)->role, enc, 32});
  for (const auto& [name, enc] : encodings.implied_biases)
    params.params.push_back({name, TensorRole::kBias, enc, 32});
  auto prepared = std::make_shared<const Model>(round_weights_to_grid(*float_model_, params));
  std::unique_ptr<Engine> engine = make_engine(prepared);
  auto ort_avx2 = std::make_unique<const OrtAvx2Emulation>(
      *prepared,
      [&](const std::string& t) {
        return find_encoding(encodings.activations, placement_.encoding_owner(t));
      },
      [&](const std::string& t) { return find_encoding(encodings.params, t); });
  // Outputs sharing their input's encoding are already on its grid: nothing to do for them.
  // (The steps point into the map's nodes, which moving the map below keeps.)
  const Graph& g = prepared->graph;
  std::vector<std::vector<FakeQuantStep>> steps(g.nodes.size());
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (size_t o = 0; o < g.nodes[n].outputs.size(); ++o) {
      auto it = encodings.activations.find(g.nodes[n].outputs[o]);
      if (it != encodings.activations.end()) steps[n].push_back({o, &it->second});
    }
  // Everything that can fail is done: from here on only moves, so that a failure (an
  // allocation) leaves the session exactly as it was.
  encodings_ = std::move(encodings);
  prepared_model_ = std::move(prepared);
  quant_engine_ = std::move(engine);
  ort_avx2_ = std::move(ort_avx2);
  fake_quant_steps_ = std::move(steps);
  ++generation_;
}

std::unique_ptr<Engine> QuantSim::make_engine(std::shared_ptr<const Model> model) const {
  return std::make_unique<Engine>(std::move(model),
                                  EngineOptions{.num_threads = options_.num_threads,
                                                .fuse_layers = false,
                                                .max_tensor_bytes = options_.max_tensor_bytes,
                                                .pool = options_.thread_pool});
}

QuantSim::Encodings QuantSim::calibrated_encodings(const BatchReader& next_batch,
                                                   const ProgressFn& progress,
                                                   int64_t total_batches,
                                                   CalibrationReport& report) {
  const Graph& g = float_model_->graph;
  const auto& quantizers = placement_.activations;
  std::vector<std::unique_ptr<Observer>> observers(quantizers.size());
  std::map<std::string, Observer*> observer_of;
  for (size_t i = 0; i < quantizers.size(); ++i) {
    const std::string& name = quantizers[i].tensor;
    if (frozen_.count(name) || disabled_.count(name) || fixed_by_config(quantizers[i])) continue;
    observers[i] = make_observer(options_.activation_method, options_.observer_options, name);
    observer_of[name] = observers[i].get();
  }
  std::vector<Observer*> input_observers;
  for (const auto& v : g.inputs)
    input_observers.push_back(observer_of.count(v.name) ? observer_of[v.name] : nullptr);
  std::vector<std::vector<std::pair<size_t, Observer*>>> node_observers(g.nodes.size());
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (size_t o = 0; o < g.nodes[n].outputs.size(); ++o)
      if (observer_of.count(g.nodes[n].outputs[o]))
        node_observers[n].push_back({o, observer_of[g.nodes[n].outputs[o]]});
  RunHooks hooks;
  hooks.after_node = [&node_observers](size_t n, const Node&, const std::vector<const Tensor*>&,
                                       const std::vector<Tensor*>& outputs) {
    for (const auto& [o, observer] : node_observers[n])
      observer->observe(outputs[o]->data<float>(), outputs[o]->size());
  };

  int64_t done = 0;
  std::vector<Tensor> batch;
  CalibrationStream stream(*float_engine_, next_batch, options_.nan_policy, "calibration");
  while (stream.next(batch)) {
    for (size_t i = 0; i < batch.size(); ++i)
      if (input_observers[i]) input_observers[i]->observe(batch[i].data<float>(), batch[i].size());
    if (!batch.empty()) float_engine_->run(batch, hooks);
    ++done;
    for (size_t i = 0; i < quantizers.size() && options_.nan_policy == NanPolicy::kReject; ++i)
      if (observers[i] && observers[i]->nan_inf_count() > 0)
        fail(ErrorCode::kNumeric, "calibration batch " + std::to_string(done) + ": tensor '" +
                                      quantizers[i].tensor + "' holds " +
                                      std::to_string(observers[i]->nan_inf_count()) +
                                      " NaN/Inf value(s); encodings unchanged");
    if (progress && !progress(done, total_batches, "calibration batch " + std::to_string(done)))
      fail(ErrorCode::kCancelled, "calibration cancelled after " + std::to_string(done) +
                                      " batch(es); encodings unchanged");
  }
  require(done > 0, ErrorCode::kInvalidArgument,
          "calibration needs at least one batch; the data reader gave none");

  report.dropped_samples += stream.dropped_samples();
  for (size_t i = 0; i < g.inputs.size(); ++i)
    if (stream.dropped_values()[i] > 0)
      report.nan_inf_counts[g.inputs[i].name] += stream.dropped_values()[i];
  Encodings result = encodings_;
  report.batches = done;
  for (size_t i = 0; i < quantizers.size(); ++i) {
    if (!observers[i]) continue;
    const ActivationQuantizer& q = quantizers[i];
    result.activations[q.tensor] = per_tensor(
        q.bitwidth, q.symmetry, constrain(observers[i]->encoding(q.bitwidth, q.symmetry), q));
    if (observers[i]->nan_inf_count() > 0)
      report.nan_inf_counts[q.tensor] += observers[i]->nan_inf_count();
  }
  return result;
}

void QuantSim::calibrate(const BatchReader& next_batch, const ProgressFn& progress,
                         int64_t total_batches) {
  CalibrationReport report;
  Encodings result = calibrated_encodings(next_batch, progress, total_batches, report);
  derive_bias_encodings(result, frozen_);
  commit(std::move(result));
  report_ = std::move(report);
}

std::string QuantSim::why_not_quantized(const std::string& tensor) const {
  const auto& fused = placement_.fused;
  if (std::find(fused.begin(), fused.end(), tensor) != fused.end())
    return "it lies inside a supergroup, where no quantizer sits between the fused ops";
  if (model_has_tensor(float_model_->graph, tensor)) return "the configuration leaves it float";
  return "the model has no tensor of that name";
}

void QuantSim::load_encodings(const EncodingSet& file, const std::string& source) {
  Encodings next = encodings_;
  std::set<std::string> frozen = frozen_, disabled = disabled_;
  auto apply = [&](std::map<std::string, Encoding>& target, const std::string& name,
                   const std::optional<Encoding>& enc) {
    frozen.insert(name);
    if (enc) {
      target[name] = *enc;
      disabled.erase(name);
    } else {
      target.erase(name);
      disabled.insert(name);
    }
  };

  // Tensors sharing an encoding may each be listed, with the same grid.
  std::map<std::string, const TensorEncoding*> by_owner;
  for (const TensorEncoding& t : file.activations) {
    const std::string what = "encodings: activation '" + t.name + "'";
    const std::string owner = placement_.encoding_owner(t.name);
    require(!owner.empty(), ErrorCode::kInvalidArgument,
            what + " has no quantizer in this configuration: " + why_not_quantized(t.name));
    if (t.encoding) check_activation_encoding(*t.encoding, what);
    auto [it, inserted] = by_owner.emplace(owner, &t);
    require(inserted || same_grid(it->second->encoding, t.encoding), ErrorCode::kInvalidArgument,
            what + " shares its encoding with '" + it->second->name +
                "' in this model, but the file gives them different ones");
  }
  for (const auto& [owner, t] : by_owner) apply(next.activations, owner, t->encoding);

  for (const TensorEncoding& given : file.params) {
    const ParamQuantizer* q = placement_.find_param(given.name);
    require(q != nullptr, ErrorCode::kInvalidArgument,
            "encodings: parameter '" + given.name +
                "' has no quantizer in this configuration: " + why_not_quantized(given.name));
    TensorEncoding t = given;
    if (t.axis_implied && t.encoding && q->channel_axis >= 0) t.encoding->axis = q->channel_axis;
    if (t.encoding) {
      check_bitwidth(t.encoding->bitwidth, "encodings: parameter '" + t.name + "'",
                     q->role == TensorRole::kBias);
      quantized_initializer(float_model_->graph, t);  // checks the grid and the channels
    }
    apply(next.params, t.name, t.encoding);
  }
  derive_bias_encodings(next, frozen);
  const bool gives_weights =
      std::any_of(file.params.begin(), file.params.end(), [](const TensorEncoding& t) {
        return t.role == TensorRole::kWeight && t.encoding.has_value();
      });
  std::vector<std::string> load_notes = load_notes_;
  if (file.target != options_.target)
    load_notes.push_back(source + ": encodings made for target '" + target_name(file.target) +
                         "', this session's target is '" + target_name(options_.target) +
                         "'; the simulation and exports use the file's grids");
  commit(std::move(next));  // the last step that can fail
  frozen_ = std::move(frozen);
  disabled_ = std::move(disabled);
  if (gives_weights) encodings_target_ = file.target;
  load_notes_ = std::move(load_notes);
}

bool QuantSim::ready() const {
  return first_missing_activation().empty();
}

std::string QuantSim::first_missing_activation() const {
  for (const ActivationQuantizer& q : placement_.activations)
    if (!disabled_.count(q.tensor) && !encodings_.activations.count(q.tensor)) return q.tensor;
  return "";
}

std::vector<Tensor> QuantSim::run_quantized(const std::vector<Tensor>& inputs) {
  return run_quantized(inputs, options_.emulate);
}

std::vector<Tensor> QuantSim::run_quantized(const std::vector<Tensor>& inputs, Target arithmetic) {
  return run_quantized_hooked(inputs, arithmetic, nullptr);
}

std::vector<Tensor> QuantSim::run_quantized(const std::vector<Tensor>& inputs,
                                            const NodeObserver& observe) {
  return run_quantized_hooked(inputs, options_.emulate, &observe);
}

std::vector<Tensor> QuantSim::run_quantized_hooked(const std::vector<Tensor>& inputs,
                                                   Target arithmetic, const NodeObserver* observe) {
  const std::string missing = first_missing_activation();
  require(missing.empty(), ErrorCode::kState,
          "run_quantized: activation '" + missing +
              "' has no encoding yet; calibrate or load encodings first");
  const auto& declared = prepared_model_->graph.inputs;
  std::vector<Tensor> quantized_inputs = inputs;
  for (size_t i = 0; i < quantized_inputs.size() && i < declared.size(); ++i) {
    auto it = encodings_.activations.find(declared[i].name);
    if (it == encodings_.activations.end()) continue;
    quantized_inputs[i] = inputs[i].clone();
    fake_quantize(quantized_inputs[i], it->second);
  }
  RunHooks hooks;
  // In the ORT AVX2 arithmetic, the layer's exact output first gets what int16 pair saturation
  // changes, then its grid.
  const bool emulate = arithmetic != Target::kExact;
  hooks.after_node = [this, emulate, observe](size_t n, const Node& node,
                                              const std::vector<const Tensor*>& ins,
                                              const std::vector<Tensor*>& outputs) {
    if (emulate) ort_avx2_->apply(n, node, ins, outputs);
    for (const FakeQuantStep& step : fake_quant_steps_[n])
      fake_quantize(*outputs[step.output], *step.encoding);
    if (observe != nullptr) (*observe)(n, outputs);
  };
  // Fake quantization and emulation read fixed data, nothing else; an observer may not be
  // reentrant.
  hooks.reentrant = observe == nullptr;
  return quant_engine_->run(quantized_inputs, hooks);
}

std::vector<Tensor> QuantSim::run_float(const std::vector<Tensor>& inputs) {
  return float_engine_->run(inputs);
}

std::vector<Tensor> QuantSim::run_float(const std::vector<Tensor>& inputs,
                                        const NodeObserver& observe) {
  RunHooks hooks;
  hooks.after_node = [&observe](size_t n, const Node&, const std::vector<const Tensor*>&,
                                const std::vector<Tensor*>& outputs) { observe(n, outputs); };
  return float_engine_->run(inputs, hooks);
}

EncodingSet QuantSim::encodings() const {
  EncodingSet set;
  std::multimap<std::string, std::string> sharers;  // owner -> tensors sharing its encoding
  for (const auto& [tensor, owner] : placement_.shared) sharers.emplace(owner, tensor);
  auto entry = [this](
                   const std::string& name, TensorRole role, const std::string& owner,
                   const std::map<std::string, Encoding>& from) -> std::optional<TensorEncoding> {
    if (disabled_.count(owner)) return TensorEncoding{name, role, std::nullopt, 32};
    auto it = from.find(owner);
    if (it == from.end()) return std::nullopt;  // not computed yet
    return TensorEncoding{name, role, it->second, 32};
  };
  for (const ActivationQuantizer& q : placement_.activations) {
    if (auto e = entry(q.tensor, q.role, q.tensor, encodings_.activations))
      set.activations.push_back(*e);
    auto [first, last] = sharers.equal_range(q.tensor);
    for (auto it = first; it != last; ++it)
      if (auto e = entry(it->second, TensorRole::kActivation, q.tensor, encodings_.activations))
        set.activations.push_back(*e);
  }
  for (const ParamQuantizer& q : placement_.params)
    if (auto e = entry(q.tensor, q.role, q.tensor, encodings_.params)) set.params.push_back(*e);

  QuantizerArgs& args = set.quantizer_args;
  args.activation_bitwidth = options_.activation_bitwidth;
  args.param_bitwidth = options_.weight_bitwidth;
  args.per_channel = config_.per_channel;
  args.activation_symmetric = config_.op_symmetric;
  args.param_symmetric = config_.param_symmetric;
  args.quant_scheme = aimet_quant_scheme(options_.activation_method);
  set.techniques = applied_techniques();
  set.model_fingerprint = options_.model_fingerprint;
  set.target = encodings_target_;
  return set;
}

std::vector<AppliedTechnique> QuantSim::applied_techniques() const {
  std::vector<AppliedTechnique> applied = transformed_;
  if (tuning_) applied.push_back(*tuning_);
  return applied;
}

std::vector<std::string> QuantSim::notes() const {
  std::vector<std::string> notes = placement_.notes;
  notes.insert(notes.end(), load_notes_.begin(), load_notes_.end());
  notes.insert(notes.end(), tuning_notes_.begin(), tuning_notes_.end());
  notes.insert(notes.end(), ort_avx2_->notes().begin(), ort_avx2_->notes().end());
  return notes;
}

const Model& QuantSim::original_float_model() const {
  return untuned_float_model_ ? *untuned_float_model_ : *float_model_;
}

void QuantSim::set_tuned_parameters(const std::map<std::string, Tensor>& values,
                                    AppliedTechnique technique, std::vector<std::string> notes) {
  const Model& original = original_float_model();
  auto tuned = std::make_shared<Model>(original);
  for (const auto& [name, value] : values) {
    const std::string what = "tuned parameter '" + name + "'";
    const Tensor* current = original.graph.find_initializer(name);
    require(current != nullptr && current->dtype() == DType::kFloat32, ErrorCode::kInvalidArgument,
            what + ": the model has no float initializer of that name");
    require(value.dtype() == DType::kFloat32 && value.shape() == current->shape(),
            ErrorCode::kInvalidArgument,
            what + " is " + value.describe() + ", the model's is " + current->describe());
    const ParamQuantizer* q = placement_.find_param(name);
    auto grid = encodings_.params.find(name);
    if (q != nullptr && q->role == TensorRole::kWeight && grid != encodings_.params.end()) {
      Tensor snapped = value.clone();
      fake_quantize(snapped, grid->second);
      require(std::equal(snapped.data<float>(), snapped.data<float>() + snapped.size(),
                         value.data<float>()),
              ErrorCode::kInvalidArgument, what + ": the weight is not on its grid");
    }
    tuned->graph.initializers[name] = value.clone();
  }
  const std::shared_ptr<const Model> untuned =
      untuned_float_model_ ? untuned_float_model_ : float_model_;
  std::unique_ptr<Engine> engine = make_engine(tuned);
  const std::shared_ptr<const Model> previous = float_model_;
  float_model_ = tuned;
  try {
    commit(encodings_);  // the prepared model from the tuned values
  } catch (...) {
    float_model_ = previous;
    throw;
  }
  untuned_float_model_ = untuned;
  float_engine_ = std::move(engine);
  tuning_ = std::move(technique);
  tuning_notes_ = std::move(notes);
}

}  // namespace qsim
