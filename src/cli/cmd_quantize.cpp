// qsim quantize: calibrates on a .npy file streamed batch by batch through the C API's data
// reader, then exports every format.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

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
};

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
    else if (!a.empty() && a[0] == '-')
      usage_error("quantize: unknown option '" + a + "'");
    else if (q.model.empty())
      q.model = a;
    else
      usage_error("quantize: more than one model given");
  }
  if (q.model.empty()) usage_error("quantize: no model given");
  if (q.calib.empty()) usage_error("quantize: no --calib file given");
  return q;
}

// The text of `key`'s value in a .npy header dict, up to `end` (exclusive).
std::string header_value(const std::string& header, const std::string& key, char end,
                         const std::string& path) {
  size_t at = header.find("'" + key + "'");
  size_t colon = at == std::string::npos ? at : header.find(':', at);
  size_t first = colon == std::string::npos ? colon : header.find_first_not_of(' ', colon + 1);
  size_t last = first == std::string::npos ? first : header.find(end, first + 1);
  if (last == std::string::npos)
    throw CommandError{"'" + path + "': malformed .npy header (no '" + key + "')"};
  return header.substr(first, last - first + (end == ')' ? 1 : 0));
}

// A float32 C-order .npy file of [N, ...] samples, read one batch at a time into a buffer
// of one batch, so memory does not grow with N. (io/npy.h reads whole files.)
class NpyBatches {
 public:
  NpyBatches(const std::string& path, int64_t batch_size) : path_(path), batch_size_(batch_size) {
    in_.open(path, std::ios::binary);
    if (!in_) throw CommandError{"cannot open '" + path + "': " + std::strerror(errno)};
    read_header();
    in_.seekg(0, std::ios::end);
    // In double: a corrupt shape must not overflow the check.
    const double needed = static_cast<double>(data_offset_) +
                          static_cast<double>(samples_) * static_cast<double>(sample_floats_) * 4;
    if (static_cast<double>(in_.tellg()) < needed)
      throw CommandError{"'" + path + "': truncated .npy data (" + std::to_string(in_.tellg()) +
                         " bytes, " + std::to_string(static_cast<long long>(needed)) + " needed)"};
  }

  int64_t samples() const { return samples_; }
  int64_t batches() const { return (samples_ + batch_size_ - 1) / batch_size_; }

  // Points `t` at the next batch; false after the last.
  bool next(qsim_tensor& t) {
    if (next_sample_ >= samples_) return false;
    const int64_t count = std::min(batch_size_, samples_ - next_sample_);
    buffer_.resize(static_cast<size_t>(count * sample_floats_));
    in_.seekg(static_cast<std::streamoff>(data_offset_ + next_sample_ * sample_floats_ * 4));
    in_.read(reinterpret_cast<char*>(buffer_.data()),
             static_cast<std::streamsize>(buffer_.size() * 4));
    if (!in_)
      throw CommandError{"cannot read '" + path_ + "' at sample " + std::to_string(next_sample_)};
    next_sample_ += count;
    t.dtype = QSIM_DTYPE_FLOAT32;
    t.rank = static_cast<int32_t>(sample_shape_.size() + 1);
    t.shape[0] = count;
    std::copy(sample_shape_.begin(), sample_shape_.end(), t.shape + 1);
    t.data = buffer_.data();
    t.size_bytes = buffer_.size() * sizeof(float);
    return true;
  }

 private:
  void read_header() {
    char prefix[12] = {};
    in_.read(prefix, sizeof prefix);
    if (!in_ || std::memcmp(prefix, "\x93NUMPY", 6) != 0)
      throw CommandError{"'" + path_ + "': not a .npy file (bad magic)"};
    const auto byte = [&](int i) { return static_cast<uint64_t>(static_cast<uint8_t>(prefix[i])); };
    const bool v1 = prefix[6] == 1;
    const uint64_t length = byte(8) | byte(9) << 8 | (v1 ? 0 : byte(10) << 16 | byte(11) << 24);
    data_offset_ = (v1 ? 10 : 12) + length;
    std::string header(length, '\0');
    in_.seekg(v1 ? 10 : 12);
    in_.read(header.data(), static_cast<std::streamsize>(length));
    if (!in_) throw CommandError{"'" + path_ + "': truncated .npy header"};
    const std::string descr = header_value(header, "descr", ',', path_);
    if (descr != "'<f4'")
      throw CommandError{"'" + path_ + "': calibration data must be float32 ('<f4'), not " + descr};
    if (header_value(header, "fortran_order", ',', path_) != "False")
      throw CommandError{"'" + path_ +
                         "': Fortran-order .npy arrays are not supported; save in C order"};
    parse_shape(header_value(header, "shape", ')', path_));
  }

  void parse_shape(const std::string& tuple) {
    std::vector<int64_t> dims;
    for (size_t pos = 1; pos < tuple.size();) {
      char* end = nullptr;
      const long long d = std::strtoll(tuple.c_str() + pos, &end, 10);
      if (end == tuple.c_str() + pos) break;
      if (d < 0) throw CommandError{"'" + path_ + "': malformed .npy shape " + tuple};
      dims.push_back(d);
      pos = static_cast<size_t>(end - tuple.c_str()) + 1;
    }
    if (dims.empty() || dims.size() > QSIM_MAX_RANK)
      throw CommandError{"'" + path_ + "': calibration data must be [N, ...] samples, shape " +
                         tuple};
    samples_ = dims[0];
    sample_shape_.assign(dims.begin() + 1, dims.end());
    sample_floats_ = 1;
    for (int64_t d : sample_shape_) sample_floats_ *= d;
  }

  std::string path_;
  std::ifstream in_;
  int64_t batch_size_;
  uint64_t data_offset_ = 0;
  int64_t samples_ = 0;
  std::vector<int64_t> sample_shape_;
  int64_t sample_floats_ = 1;
  int64_t next_sample_ = 0;
  std::vector<float> buffer_;
};

// The data reader the C API calls; a failure is kept for the error message.
struct ReaderState {
  NpyBatches* batches;
  std::string error;
};

int read_batch(void* user, qsim_tensor* inputs, size_t count) {
  auto* state = static_cast<ReaderState*>(user);
  try {
    return count == 1 && state->batches->next(inputs[0]) ? 1 : 0;
  } catch (const CommandError& e) {
    state->error = e.message;
    return -1;
  }
}

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
  QSIM_OPTIONS_INIT(&options);
  options.num_threads = q.threads;
  options.weight_bits = q.weight_bits;
  options.activation_bits = q.act_bits;
  options.per_channel = q.per_channel ? 1 : 0;
  options.activation_calibration = q.calib_method;
  options.weight_calibration = q.weight_method;
  if (!q.config.empty()) options.config_path = q.config.c_str();
  options.nan_policy = q.exclude_nan ? QSIM_NAN_EXCLUDE : QSIM_NAN_REJECT;
  return options;
}

void calibrate(qsim_session* session, NpyBatches& batches) {
  ReaderState reader{&batches, ""};
  ProgressBar bar{batches.batches()};
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const qsim_status status =
      qsim_calibrate(session, read_batch, &reader, tty ? ProgressBar::update : nullptr, &bar);
  bar.finish();
  if (!reader.error.empty()) throw CommandError{reader.error};
  check(status);
}

void print_notes(qsim_session* session) {
  char* notes = nullptr;
  check(qsim_get_notes(session, &notes));
  const char* line = notes;
  while (*line != '\0') {
    const char* end = std::strchr(line, '\n');
    std::fprintf(stderr, "qsim: note: %.*s\n", static_cast<int>(end - line), line);
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
  NpyBatches batches(q.calib, q.batch_size);
  calibrate(session.get(), batches);

  const std::string basename = std::filesystem::path(q.model).stem().string();
  qsim_export_options export_options;
  QSIM_EXPORT_OPTIONS_INIT(&export_options);
  export_options.basename = basename.c_str();
  check(qsim_export(session.get(), q.out_dir.c_str(), &export_options));
  print_notes(session.get());
  std::printf(
      "calibrated on %lld samples in %lld batches; wrote %s/%s.* (encodings.fbs, "
      "encodings.json, encodings.v1.json, onnx, qdq.onnx)\n",
      static_cast<long long>(batches.samples()), static_cast<long long>(batches.batches()),
      q.out_dir.c_str(), basename.c_str());
  return 0;
}

}  // namespace qsim::cli
