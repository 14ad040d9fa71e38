// qsim quantize: calibrates on a .npy file streamed batch by batch through the C API's data
// reader, optionally runs AdaRound or AdaQuant on the same file, then exports every format.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include "cli/cli.h"

namespace qsim::cli {
namespace {

struct QuantizeArgs {
  std::string model;
  std::string calib;
  std::string out_dir = ".";
  std::string config;
  int weight_bits = 8;
  int act_bits = 8;
  bool per_channel = false;
  qsim_calibration_method calib_method = QSIM_CALIB_TF_ENHANCED;
  qsim_calibration_method weight_method = QSIM_CALIB_MINMAX;
  int batch_size = 64;
  int threads = 0;
  bool exclude_nan = false;
  qsim_target target = QSIM_TARGET_EXACT;
  bool cle = false;
  int cle_steps = -1;
  bool cle_keep_relu6 = false;
  bool cle_no_hba = false;
  bool cle_include_bias = false;
  double smooth_quant_alpha = -1.0;  // < 0: no SmoothQuant
  // AdaRound, AdaQuant or bias correction after calibration; zeros keep
  // qsim_adaround_options' defaults.
  bool adaround = false;
  bool adaquant = false;
  bool bias_correction = false;
  bool bias_correction_analytical = false;
  int64_t adaround_iterations = 0;
  int64_t adaround_samples = 0;
  uint64_t seed = 0;
  int64_t memory_budget_mb = -1;
  qsim_qdq_wide_form qdq_wide_form = QSIM_QDQ_WIDE_MICROSOFT;
};

qsim_qdq_wide_form parse_wide_form(const std::string& text, const std::string& name) {
  if (text == "microsoft") return QSIM_QDQ_WIDE_MICROSOFT;
  if (text == "opset21") return QSIM_QDQ_WIDE_OPSET21;
  usage_error(name + ": '" + text + "' is neither microsoft nor opset21");
}

qsim_target parse_target(const std::string& text, const std::string& name) {
  qsim_target target;
  if (qsim_target_from_name(text.c_str(), &target) != QSIM_OK)
    usage_error(name + ": " + qsim_last_error());
  return target;
}

QuantizeArgs parse_quantize_args(const std::vector<std::string>& args) {
  QuantizeArgs q;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) usage_error("quantize: " + a + " needs a value");
      return args[++i];
    };
    if (a == "--calib")
      q.calib = value();
    else if (a == "--out")
      q.out_dir = value();
    else if (a == "--config")
      q.config = value();
    else if (a == "--weight-bits")
      q.weight_bits = parse_int(value(), a);
    else if (a == "--act-bits")
      q.act_bits = parse_int(value(), a);
    else if (a == "--per-channel")
      q.per_channel = true;
    else if (a == "--calib-method")
      q.calib_method = parse_method(value(), a);
    else if (a == "--weight-method")
      q.weight_method = parse_method(value(), a);
    else if (a == "--batch-size")
      q.batch_size = parse_int(value(), a);
    else if (a == "--threads")
      q.threads = parse_int(value(), a);
    else if (a == "--exclude-nan")
      q.exclude_nan = true;
    else if (a == "--target")
      q.target = parse_target(value(), a);
    else if (a == "--cle")
      q.cle = true;
    else if (a == "--cle-steps")
      q.cle_steps = static_cast<int>(parse_count(value(), a, 1, 100));
    else if (a == "--cle-keep-relu6")
      q.cle_keep_relu6 = true;
    else if (a == "--cle-no-hba")
      q.cle_no_hba = true;
    else if (a == "--cle-include-bias")
      q.cle_include_bias = true;
    else if (a == "--smooth-quant" || a == "--smoothquant")
      q.smooth_quant_alpha = parse_fraction(value(), a);
    else if (a == "--adaround")
      q.adaround = true;
    else if (a == "--adaquant")
      q.adaquant = true;
    else if (a == "--bias-correction")
      q.bias_correction = true;
    else if (a == "--bias-correction-analytical")
      q.bias_correction = q.bias_correction_analytical = true;
    else if (a == "--adaround-iterations")
      q.adaround_iterations = parse_count(value(), a, 1, INT32_MAX);
    else if (a == "--adaround-samples")
      q.adaround_samples = parse_count(value(), a, 1, INT32_MAX);
    else if (a == "--seed")
      q.seed = static_cast<uint64_t>(parse_count(value(), a, 0, INT64_MAX));
    else if (a == "--qdq-16bit")
      q.qdq_wide_form = parse_wide_form(value(), a);
    else if (a == "--memory-budget")
      q.memory_budget_mb = parse_count(value(), a, 0, int64_t{1} << 40);
    else if (!a.empty() && a[0] == '-')
      usage_error("quantize: unknown option '" + a + "'");
    else if (q.model.empty())
      q.model = a;
    else
      usage_error("quantize: more than one model given");
  }
  if (q.model.empty()) usage_error("quantize: no model given");
  if (q.calib.empty()) usage_error("quantize: no --calib file given");
  if ((q.cle_steps != -1 || q.cle_keep_relu6 || q.cle_no_hba || q.cle_include_bias) && !q.cle)
    usage_error(
        "quantize: --cle-steps, --cle-keep-relu6, --cle-no-hba and --cle-include-bias need --cle");
  if (int(q.adaround) + int(q.adaquant) + int(q.bias_correction) > 1)
    usage_error("quantize: give one of --adaround, --adaquant and --bias-correction");
  const bool tuning_option =
      q.adaround_iterations > 0 || q.adaround_samples > 0 || q.seed > 0 || q.memory_budget_mb >= 0;
  if (tuning_option && !q.adaround && !q.adaquant && !q.bias_correction)
    usage_error(
        "quantize: --adaround-iterations, --adaround-samples, --seed and --memory-budget need "
        "--adaround, --adaquant or --bias-correction");
  return q;
}

// The calibration set, read by the library one batch at a time (qsim_data_source_from_npy):
// memory holds one batch whatever N is, and every call starts it from its first sample.
class CalibrationData {
 public:
  CalibrationData(const std::string& path, int64_t batch_size) : batch_size_(batch_size) {
    const char* paths[] = {path.c_str()};
    qsim_data_source* source = nullptr;
    check(qsim_data_source_from_npy(paths, 1, batch_size, &source));
    source_.reset(source);
    check(qsim_data_source_samples(source, &samples_));
  }

  qsim_data_source* get() const { return source_.get(); }
  int64_t samples() const { return samples_; }
  int64_t batches() const { return (samples_ + batch_size_ - 1) / batch_size_; }

 private:
  struct Destroy {
    void operator()(qsim_data_source* source) const { qsim_data_source_destroy(source); }
  };
  std::unique_ptr<qsim_data_source, Destroy> source_;
  int64_t batch_size_;
  int64_t samples_ = 0;
};

// A progress bar on stderr when it is a terminal; nothing otherwise.
struct ProgressBar {
  int64_t total;
  bool shown = false;

  static int update(void* user, int64_t done, int64_t, const char*) {
    auto* bar = static_cast<ProgressBar*>(user);
    constexpr int kWidth = 30;
    const int filled =
        static_cast<int>(kWidth * std::min(done, bar->total) / std::max<int64_t>(bar->total, 1));
    std::fprintf(stderr, "\rcalibrating [%.*s%*s] %lld/%lld batches", filled,
                 "##############################", kWidth - filled, "",
                 static_cast<long long>(done), static_cast<long long>(bar->total));
    bar->shown = true;
    return 0;
  }
  void finish() const {
    if (shown) std::fputc('\n', stderr);
  }
};

qsim_options session_options(const QuantizeArgs& q) {
  qsim_options options;
  qsim_options_init(&options, sizeof(qsim_options));
  options.num_threads = q.threads;
  options.weight_bits = q.weight_bits;
  options.activation_bits = q.act_bits;
  options.per_channel = q.per_channel ? 1 : 0;
  options.activation_calibration = q.calib_method;
  options.weight_calibration = q.weight_method;
  if (!q.config.empty()) options.config_path = q.config.c_str();
  options.nan_policy = q.exclude_nan ? QSIM_NAN_EXCLUDE : QSIM_NAN_REJECT;
  options.target = q.target;
  options.cross_layer_equalization = q.cle ? 1 : 0;
  options.cle_steps = q.cle_steps;
  options.cle_replace_relu6 = q.cle_keep_relu6 ? 0 : 1;
  options.cle_high_bias_absorption = q.cle_no_hba ? 0 : 1;
  options.cle_include_bias = q.cle_include_bias ? 1 : 0;
  return options;
}

void calibrate(qsim_session* session, const CalibrationData& data) {
  ProgressBar bar{data.batches()};
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const qsim_status status = qsim_calibrate(session, qsim_data_source_read, data.get(),
                                            tty ? ProgressBar::update : nullptr, &bar);
  bar.finish();
  check(status);
}

// AdaRound's progress: on a terminal, a bar over every layer's iterations and the core's
// message on stderr, redrawn every thousandth of the way and while inputs are cached; the last
// message (the summary) is kept for printing either way.
struct IterationProgress {
  bool tty = false;
  int64_t drawn = -1;
  bool shown = false;
  std::string last;

  static int update(void* user, int64_t done, int64_t total, const char* message) {
    auto* progress = static_cast<IterationProgress*>(user);
    progress->last = message;
    if (!progress->tty) return 0;
    constexpr int kWidth = 20;
    const int64_t permille = 1000 * done / std::max<int64_t>(total, 1);
    if (permille == progress->drawn && std::strstr(message, "caching") == nullptr) return 0;
    const int filled = static_cast<int>(kWidth * permille / 1000);
    std::fprintf(stderr, "\r[%.*s%*s] %s\033[K", filled, "####################", kWidth - filled,
                 "", message);
    progress->drawn = permille;
    progress->shown = true;
    return 0;
  }
  void finish() const {
    if (shown) std::fputc('\n', stderr);
  }
};

void adaround(qsim_session* session, const CalibrationData& data, const QuantizeArgs& q) {
  qsim_adaround_options options;
  qsim_adaround_options_init(&options, sizeof(qsim_adaround_options));
  options.mode = q.bias_correction_analytical ? QSIM_BIAS_CORRECTION_ANALYTICAL
                 : q.bias_correction          ? QSIM_BIAS_CORRECTION
                 : q.adaquant                 ? QSIM_ADAQUANT
                                              : QSIM_ADAROUND;
  if (q.adaround_iterations > 0) {
    options.num_iterations = static_cast<int32_t>(q.adaround_iterations);
    options.adaquant_iterations = static_cast<int32_t>(q.adaround_iterations);
  }
  if (q.adaround_samples > 0) options.num_samples = static_cast<int32_t>(q.adaround_samples);
  options.seed = q.seed;
  if (q.memory_budget_mb >= 0)
    options.memory_budget_bytes = static_cast<uint64_t>(q.memory_budget_mb) << 20;
  IterationProgress progress;
  progress.tty = ::isatty(STDERR_FILENO) != 0;
  const qsim_status status = qsim_adaround(session, qsim_data_source_read, data.get(), &options,
                                           IterationProgress::update, &progress);
  progress.finish();
  check(status);
  std::fprintf(stderr, "%s\n", progress.last.c_str());  // the summary
}

// The endings of the files an export wrote, as the summary lists them.
std::string format_endings(uint32_t formats) {
  static constexpr std::pair<uint32_t, const char*> kEndings[] = {
      {QSIM_EXPORT_ENCODINGS_FBS, "encodings.fbs"},
      {QSIM_EXPORT_AIMET_JSON_0_6_1, "encodings.json"},
      {QSIM_EXPORT_AIMET_JSON_1_0_0, "encodings.v1.json"},
      {QSIM_EXPORT_ONNX_ROUNDED, "onnx"},
      {QSIM_EXPORT_ONNX_QDQ, "qdq.onnx"}};
  std::string text;
  for (const auto& [flag, ending] : kEndings)
    if (formats & flag) text += (text.empty() ? "" : ", ") + std::string(ending);
  return text;
}

void print_notes(qsim_session* session) {
  char* notes = nullptr;
  check(qsim_get_notes(session, &notes));
  const char* line = notes;
  // The first line lists the techniques applied (qsim.h): part of the summary on stdout.
  bool first = true;
  while (*line != '\0') {
    const char* end = std::strchr(line, '\n');
    const std::string text(line, end);
    // Saturation the deployed model may suffer, and a file not written, are warnings.
    const bool warning = text.find(" pair sums can reach ") != std::string::npos ||
                         text.rfind("export: skipped ", 0) == 0;
    if (first)
      std::printf("%s\n", text.c_str());
    else
      std::fprintf(stderr, "qsim: %s: %s\n", warning ? "warning" : "note", text.c_str());
    first = false;
    line = end + 1;
  }
  qsim_free(notes);
}

}  // namespace

int cmd_quantize(const std::vector<std::string>& args) {
  const QuantizeArgs q = parse_quantize_args(args);
  Session session = open_session(q.model, session_options(q));
  size_t inputs = 0;
  check(qsim_io_count(session.get(), QSIM_INPUT, &inputs));
  if (inputs != 1)
    throw CommandError{"quantize: the model has " + std::to_string(inputs) +
                       " inputs; --calib feeds models with a single input"};
  const CalibrationData data(q.calib, q.batch_size);
  if (q.smooth_quant_alpha >= 0.0) {
    qsim_smooth_quant_options options;
    qsim_smooth_quant_options_init(&options, sizeof(qsim_smooth_quant_options));
    options.alpha = q.smooth_quant_alpha;
    check(qsim_smooth_quant(session.get(), qsim_data_source_read, data.get(), &options, nullptr,
                            nullptr));
  }
  calibrate(session.get(), data);
  if (q.adaround || q.adaquant || q.bias_correction) adaround(session.get(), data, q);

  const std::string basename = std::filesystem::path(q.model).stem().string();
  qsim_export_options export_options;
  qsim_export_options_init(&export_options, sizeof(qsim_export_options));
  export_options.basename = basename.c_str();
  export_options.qdq_wide_form = q.qdq_wide_form;
  // Formats that cannot be built are skipped and the others written (qsim.h): the command
  // then lists what it wrote, warns of what it skipped and exits with kPartialExit.
  const qsim_status exported = qsim_export(session.get(), q.out_dir.c_str(), &export_options);
  if (exported != QSIM_ERR_INCOMPLETE) check(exported);
  uint32_t written = 0;
  check(qsim_exported_formats(session.get(), &written));
  print_notes(session.get());
  std::printf("calibrated on %lld samples in %lld batches; wrote %s/%s.* (%s)\n",
              static_cast<long long>(data.samples()), static_cast<long long>(data.batches()),
              q.out_dir.c_str(), basename.c_str(), format_endings(written).c_str());
  if (exported == QSIM_ERR_INCOMPLETE)
    throw CommandError{"warning: not every format was written: some were skipped (see above)",
                       kPartialExit};
  return 0;
}

}  // namespace qsim::cli
