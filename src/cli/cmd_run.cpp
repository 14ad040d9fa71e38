#include <cctype>
#include <cstdio>
#include <filesystem>

#include "cli/cli.h"
#include "io/npy.h"

namespace qsim::cli {
namespace {

struct RunArgs {
  std::string model;
  std::vector<std::pair<std::string, std::string>> inputs;  // (name or "", path)
  std::string output_dir;
  int threads = 0;
  std::string encodings;  // set: run the quantization simulation with these encodings
  std::string config;     // the quantsim config the encodings were made with
  qsim_target emulate = QSIM_TARGET_EXACT;  // the integer arithmetic the simulation reproduces
  bool emulate_given = false;
};

RunArgs parse_run_args(const std::vector<std::string>& args) {
  RunArgs r;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) usage_error("run: " + a + " needs a value");
      return args[++i];
    };
    if (a == "--input") {
      std::string spec = value();
      size_t eq = spec.find('=');
      // NAME=FILE binds by name; a path that merely contains '=' after a '/' stays a path.
      if (eq != std::string::npos && spec.find('/') > eq)
        r.inputs.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
      else
        r.inputs.push_back({"", spec});
    } else if (a == "--output") {
      r.output_dir = value();
    } else if (a == "--threads") {
      r.threads = parse_int(value(), "--threads");
    } else if (a == "--encodings") {
      r.encodings = value();
    } else if (a == "--config") {
      r.config = value();
    } else if (a == "--emulate") {
      const std::string& name = value();
      if (qsim_target_from_name(name.c_str(), &r.emulate) != QSIM_OK)
        usage_error("run: --emulate: " + std::string(qsim_last_error()));
      r.emulate_given = true;
    } else if (!a.empty() && a[0] == '-') {
      usage_error("run: unknown option '" + a + "'");
    } else if (r.model.empty()) {
      r.model = a;
    } else {
      usage_error("run: more than one model given");
    }
  }
  if (r.model.empty()) usage_error("run: no model given");
  if (r.inputs.empty()) usage_error("run: no --input given");
  if (r.output_dir.empty()) usage_error("run: no --output folder given");
  if (!r.config.empty() && r.encodings.empty()) usage_error("run: --config needs --encodings");
  if (r.emulate_given && r.encodings.empty()) usage_error("run: --emulate needs --encodings");
  return r;
}

// Output names may hold '/', ':' and the like; keep file names portable.
std::string safe_file_name(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

qsim_tensor to_c(const Tensor& t, const std::string* name) {
  qsim_tensor c{};
  c.name = name && !name->empty() ? name->c_str() : nullptr;
  c.dtype = static_cast<qsim_dtype>(t.dtype());
  if (t.rank() > QSIM_MAX_RANK)
    throw CommandError{"input has rank above " + std::to_string(QSIM_MAX_RANK)};
  c.rank = static_cast<int32_t>(t.rank());
  for (int64_t d = 0; d < t.rank(); ++d) c.shape[d] = t.dim(d);
  c.data = const_cast<void*>(t.raw());
  c.size_bytes = t.byte_size();
  return c;
}

}  // namespace

int cmd_run(const std::vector<std::string>& args) {
  RunArgs r = parse_run_args(args);
  std::vector<Tensor> inputs;
  for (const auto& [name, path] : r.inputs) inputs.push_back(read_npy(path));
  std::vector<qsim_tensor> c_inputs;
  for (size_t i = 0; i < inputs.size(); ++i)
    c_inputs.push_back(to_c(inputs[i], &r.inputs[i].first));

  qsim_options options;
  qsim_options_init(&options, sizeof(qsim_options));
  options.num_threads = r.threads;
  options.emulate = r.emulate;
  if (!r.config.empty()) options.config_path = r.config.c_str();
  Session session = open_session(r.model, options);
  if (!r.encodings.empty()) check(qsim_load_encodings(session.get(), r.encodings.c_str()));
  const qsim_run_mode mode = r.encodings.empty() ? QSIM_RUN_FLOAT : QSIM_RUN_QUANTIZED;

  size_t num_outputs = 0;
  check(qsim_io_count(session.get(), QSIM_OUTPUT, &num_outputs));
  std::vector<qsim_tensor> outputs(num_outputs);
  check(qsim_infer_shapes(session.get(), c_inputs.data(), c_inputs.size(), outputs.data(),
                          num_outputs));
  std::vector<Tensor> buffers;
  for (auto& out : outputs) {
    buffers.emplace_back(static_cast<DType>(out.dtype), Shape(out.shape, out.shape + out.rank));
    out.data = buffers.back().raw();
  }
  check(
      qsim_run(session.get(), mode, c_inputs.data(), c_inputs.size(), outputs.data(), num_outputs));

  std::error_code ec;
  std::filesystem::create_directories(r.output_dir, ec);
  if (ec) throw CommandError{"cannot create output folder '" + r.output_dir + "': " + ec.message()};
  for (size_t i = 0; i < num_outputs; ++i)
    write_npy(
        (std::filesystem::path(r.output_dir) / (safe_file_name(outputs[i].name) + ".npy")).string(),
        buffers[i]);
  return 0;
}

}  // namespace qsim::cli
