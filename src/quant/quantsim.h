// QuantSim: quantization simulation of a float model on qsim's runtime.
//
// At construction the options' model transforms (quant/model_transform.h: batch-norm folding,
// ...) are applied in their order, quantizers are placed (quantizer_placement.h) from the
// configuration, and the weight encodings are computed from the weight values. calibrate() streams
// batches through the float model and sets every activation encoding from one observer per
// quantized tensor; load_encodings() sets (and freezes) encodings from a file instead.
// run_quantized() then runs the model with weights on their grids (and every Conv, ConvTranspose
// and Gemm bias on its int32 grid input_scale * weight_scale when the layer's input and weight
// are quantized, configured or not, as integer runtimes store it) and every quantized
// activation fake-quantized in place right after the op that produces it, with exactly
// fake_quantize_span's arithmetic (round half to even, divide by the scale), which is what
// ONNX Runtime's QuantizeLinear computes.
//
// Failed or cancelled calls leave the object as it was. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "quant/calibration_stream.h"
#include "quant/encoding_set.h"
#include "quant/model_transform.h"
#include "quant/observer.h"
#include "quant/ort_avx2_emulation.h"
#include "quant/ort_integer_ops.h"
#include "quant/quantizer_placement.h"
#include "quant/quantsim_config.h"
#include "runtime/engine.h"

namespace qsim {

// Progress of a long call: (done, total or -1 when unknown, what is happening). Returning
// false cancels the call, which then throws kCancelled.
using ProgressFn = std::function<bool(int64_t done, int64_t total, const std::string& message)>;

struct QuantSimOptions {
  int weight_bitwidth = 8;
  int activation_bitwidth = 8;
  // Overrides the configuration's defaults.per_channel_quantization when set (op_type
  // overrides in the configuration still apply).
  std::optional<bool> per_channel;
  CalibrationMethod activation_method = CalibrationMethod::kTfEnhanced;  // AIMET's default
  CalibrationMethod weight_method = CalibrationMethod::kMinMax;
  ObserverOptions observer_options;
  std::optional<QuantSimConfig> config;  // unset: default_quantsim_config()
  // Applied to the model in this order before anything else; each one that changes the model
  // is recorded (applied_techniques(), and every export). Empty: the model as given.
  std::vector<ModelTransform> transforms;
  NanPolicy nan_policy = NanPolicy::kReject;
  int num_threads = 1;
  // The worker threads every engine of this QuantSim runs on, shared with its owner's other
  // engines (a C API session's); null: QuantSim makes one pool of num_threads.
  std::shared_ptr<ThreadPool> thread_pool;
  // The runtime arithmetic the encodings are made for: Target::kOrtAvx2 puts the weights
  // ONNX Runtime's U8S8 kernels read (ParamQuantizer::u8s8_kernel) on grids whose pair sums
  // cannot saturate int16 (quant/target.h).
  Target target = Target::kExact;
  // sha256 of the source model bytes for exports; empty: computed from model.source_path
  // when the model came from a file.
  std::string model_fingerprint;
  // The integer arithmetic run_quantized() reproduces (exact sums unless a target's are not).
  Target emulate = Target::kExact;
  // The engines' cap on one tensor's bytes (EngineOptions::max_tensor_bytes).
  int64_t max_tensor_bytes = kDefaultMaxTensorBytes;
};

struct CalibrationReport {
  int64_t batches = 0;
  std::map<std::string, int64_t> nan_inf_counts;  // tensors that held NaN/Inf, excluded
  int64_t dropped_samples = 0;  // samples left out for NaN/Inf in the model inputs
};

class QuantSim {
 public:
  // Throws kInvalidArgument for bit widths outside 2..16, kUnsupported for ops the runtime
  // lacks.
  QuantSim(const Model& model, QuantSimOptions options = {});
  ~QuantSim();
  QuantSim(const QuantSim&) = delete;
  QuantSim& operator=(const QuantSim&) = delete;

  const QuantizerPlacement& placement() const { return placement_; }
  const QuantSimConfig& config() const { return config_; }
  const QuantSimOptions& options() const { return options_; }
  // The techniques applied, in order: the options' transforms that changed the model, then the
  // current parameter tuning (set_tuned_parameters), if any.
  std::vector<AppliedTechnique> applied_techniques() const;
  // What is known of the layers of original_float_model() after the transforms (their folded
  // BatchNormalization's statistics), or null.
  const std::shared_ptr<const BatchNormStatistics>& layer_statistics() const {
    return layer_statistics_;
  }
  // The float model QuantSim works on (after the transforms, with tuned parameters).
  const Model& float_model() const { return *float_model_; }
  // float_model() with every encoded parameter on its grid (quantization-ready weights).
  const Model& prepared_model() const { return *prepared_model_; }

  // Streams batches until `next_batch` returns false and sets every activation encoding that
  // is not frozen. kInvalidArgument when the reader gives no batch, kNumeric for NaN/Inf under
  // NanPolicy::kReject, kCancelled when `progress` returns false (nothing is changed then).
  void calibrate(const BatchReader& next_batch, const ProgressFn& progress,
                 int64_t total_batches = -1);
  const CalibrationReport& calibration_report() const { return report_; }

  // Sets the encodings a file gives and freezes them (calibration keeps them). Every name
  // must be a tensor this configuration quantizes (or one sharing its encoding); parameter
  // encodings must fit their tensor's shape; an entry without an encoding keeps the tensor
  // float. Throws kInvalidArgument naming the entry (kUnsupported for a per-channel
  // activation encoding); nothing is changed then. A file that gives weight encodings makes
  // its target the encodings' target (encodings_target()); a file whose target is not the
  // session's adds a note naming `source`.
  void load_encodings(const EncodingSet& encodings, const std::string& source = "encodings");
  // The target the current weight grids were made for: the session's, or that of the last
  // loaded file that gave weight encodings.
  Target encodings_target() const { return encodings_target_; }

  // True when every quantizer has an encoding, so run_quantized() can run.
  bool ready() const;
  // Simulated fixed-point inference with the options' integer arithmetic; kState until
  // ready().
  std::vector<Tensor> run_quantized(const std::vector<Tensor>& inputs);
  // The same with `arithmetic`: under kOrtAvx2 the output of every layer ONNX Runtime's x86
  // kernels without VNNI would pair in int16 gets what that saturation changes
  // (quant/ort_avx2_emulation.h); kExact is the exact simulation.
  std::vector<Tensor> run_quantized(const std::vector<Tensor>& inputs, Target arithmetic);
  std::vector<Tensor> run_float(const std::vector<Tensor>& inputs);
  // The same runs (run_quantized with the options' arithmetic), calling `observe` after every
  // node with its index in float_model().graph, which both runs follow node for node, and its
  // outputs (nullptr for unused ones), fake-quantized where the simulation quantizes them.
  // Calls come from one thread at a time, in graph order within a batch (techniques that
  // measure layer outputs, e.g. bias correction).
  using NodeObserver = std::function<void(size_t node, const std::vector<Tensor*>& outputs)>;
  std::vector<Tensor> run_quantized(const std::vector<Tensor>& inputs, const NodeObserver& observe);
  std::vector<Tensor> run_float(const std::vector<Tensor>& inputs, const NodeObserver& observe);

  // Every encoding for export: activations in placement order (tensors sharing an encoding
  // listed with it), then parameters; the settings and techniques applied.
  EncodingSet encodings() const;
  // Changes with every change of what encodings() returns (a calibration, load or tuning):
  // callers that keep a copy of encodings() know when to make it again.
  uint64_t generation() const { return generation_; }
  // Placement and configuration remarks (config entries the model does not use, ...), loaded
  // files made for another target, then those of the tuned parameters (layers AdaRound left
  // out, and why).
  std::vector<std::string> notes() const;

  // ---- Tuned parameters (AdaRound and AdaQuant, techniques/adaround.h) ----
  // The float model before any tuned parameters (after the transforms):
  // AdaRound's reference, whatever an earlier tuning replaced.
  const Model& original_float_model() const;
  // Replaces parameters of original_float_model() by `values` (weights exactly on their grids,
  // trained biases) in the model QuantSim works on from now on: float_model(), and so the
  // prepared model, later calibrations and every export. Encodings are unchanged; encodings()
  // records `technique` and notes() lists `notes`, both replacing an earlier tuning's. A name
  // that is not a float initializer of the model, another shape, or a quantized weight off its
  // grid throws kInvalidArgument naming the tensor; nothing is changed then.
  void set_tuned_parameters(const std::map<std::string, Tensor>& values, AppliedTechnique technique,
                            std::vector<std::string> notes);

 private:
  struct Encodings {
    std::map<std::string, Encoding> activations;  // by owning tensor
    std::map<std::string, Encoding> params;
    // Grids of placement().implied_int32_biases: simulated, not exported.
    std::map<std::string, Encoding> implied_biases;
  };
  struct FakeQuantStep {
    size_t output;
    const Encoding* encoding;
  };

  // Weights (and biases not derived from other scales) from their values, and activations
  // whose range the configuration fixes.
  Encodings initial_encodings() const;
  // Int32 bias grids from the current input and weight scales, except biases in `keep`; the
  // implied int32 biases too.
  void derive_bias_encodings(Encodings& encodings, const std::set<std::string>& keep) const;
  Encodings calibrated_encodings(const BatchReader& next_batch, const ProgressFn& progress,
                                 int64_t total_batches, CalibrationReport& report);
  // Makes `encodings` current: weights on their grids in a new prepared model and engine.
  void commit(Encodings encodings);
  // An engine for `model` that runs every op as the model has it, so hooks see every tensor.
  std::unique_ptr<Engine> make_engine(std::shared_ptr<const Model> model) const;
  std::string first_missing_activation() const;
  std::vector<Tensor> run_quantized_hooked(const std::vector<Tensor>& inputs, Target arithmetic,
                                           const NodeObserver* observe);
  std::string why_not_quantized(const std::string& tensor) const;

  QuantSimOptions options_;
  QuantSimConfig config_;
  std::vector<AppliedTechnique> transformed_;  // the transforms that changed the model, in order
  std::shared_ptr<const BatchNormStatistics> layer_statistics_;
  std::shared_ptr<const Model> float_model_;
  std::shared_ptr<const Model> prepared_model_;
  QuantizerPlacement placement_;
  Encodings encodings_;
  std::set<std::string> frozen_;    // set by load_encodings
  std::set<std::string> disabled_;  // kept float by load_encodings
  CalibrationReport report_;
  Target encodings_target_ = Target::kExact;
  std::vector<std::string> load_notes_;  // loaded files made for another target
  std::unique_ptr<Engine> float_engine_;
  std::unique_ptr<Engine> quant_engine_;
  std::vector<std::vector<FakeQuantStep>> fake_quant_steps_;  // by node index
  // ONNX Runtime's AVX2 pair saturation on the prepared model with the current encodings.
  std::unique_ptr<const OrtAvx2Emulation> ort_avx2_;
  // Set by set_tuned_parameters: the model before tuning, the tuning and its notes.
  std::shared_ptr<const Model> untuned_float_model_;
  std::optional<AppliedTechnique> tuning_;
  std::vector<std::string> tuning_notes_;
  uint64_t generation_ = 0;  // counts commits: what encodings() returns changes only with it
};

}  // namespace qsim
