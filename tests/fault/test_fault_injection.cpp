// Fault injection through the C API (issue 21, item 4): every allocation, and every file
// call, of qsim_create, qsim_calibrate, qsim_adaround and qsim_export is made to fail in
// turn (fault_hooks.h). For every failure point the call must return its error status
// (QSIM_ERR_OUT_OF_MEMORY, QSIM_ERR_IO), never abort; the session must be as it was (same
// encodings, same quantized outputs) and must then run, calibrate, round and export exactly
// as a session that never saw a failure; and the output folder must hold all of an export's
// files or none. Also: a full disk (a small tmpfs in a private mount namespace) and the
// output folder removed while an export renames its files into place.
#define CATCH_CONFIG_MAIN
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cassert>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fault_hooks.h"
#include "qsim/qsim.h"

namespace fs = std::filesystem;

namespace {

constexpr int kSampleFloats = 64;  // [1, 8, 8]
constexpr int kSamples = 16;
constexpr int kBatch = 8;
constexpr int kEvalSamples = 4;

std::string model_path() {
  return std::string(QSIM_SOURCE_DIR) + "/tests/data/fault/small_cnn.onnx";
}

// Deterministic inputs in [-1, 1).
const std::vector<float>& samples() {
  static const std::vector<float> data = [] {
    std::vector<float> v(kSamples * kSampleFloats);
    uint32_t state = 12345;
    for (float& x : v) {
      state = state * 1664525u + 1013904223u;
      x = static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.0f;
    }
    return v;
  }();
  return data;
}

qsim_tensor input_tensor(const float* data, int count) {
  qsim_tensor t{};
  t.dtype = QSIM_DTYPE_FLOAT32;
  t.rank = 4;
  t.shape[0] = count;
  t.shape[1] = 1;
  t.shape[2] = 8;
  t.shape[3] = 8;
  t.data = const_cast<float*>(data);
  t.size_bytes = sizeof(float) * kSampleFloats * static_cast<size_t>(count);
  return t;
}

// Allocates nothing: the injected failures are the library's own.
struct Reader {
  int next = 0;
};

int read_batch(void* user, qsim_tensor* inputs, size_t num_inputs) {
  Reader* reader = static_cast<Reader*>(user);
  if (num_inputs != 1 || reader->next >= kSamples) return 0;
  const int count = std::min(kBatch, kSamples - reader->next);
  inputs[0] = input_tensor(samples().data() + reader->next * kSampleFloats, count);
  reader->next += count;
  return 1;
}

std::string last_error() {
  const char* message = qsim_last_error();
  return message == nullptr ? "(null)" : message;
}

struct SessionDeleter {
  void operator()(qsim_session* s) const { qsim_destroy(s); }
};
using Session = std::unique_ptr<qsim_session, SessionDeleter>;

// The calibration sweep runs AIMET's default TF-enhanced search; the others calibrate with
// min/max, ten times faster here, to keep the many sessions they make cheap.
constexpr qsim_calibration_method kTfEnhanced = QSIM_CALIB_TF_ENHANCED;
constexpr qsim_calibration_method kMinMax = QSIM_CALIB_MINMAX;

qsim_options session_options(int threads, qsim_calibration_method method) {
  qsim_options options;
  qsim_options_init(&options, sizeof options);
  options.num_threads = threads;
  options.per_channel = 1;
  options.activation_calibration = method;
  return options;
}

Session create(int threads, qsim_calibration_method method) {
  const qsim_options options = session_options(threads, method);
  qsim_session* s = nullptr;
  const qsim_status status = qsim_create(model_path().c_str(), &options, &s);
  INFO(last_error());
  REQUIRE(status == QSIM_OK);
  return Session(s);
}

qsim_status calibrate(qsim_session* s) {
  Reader reader;
  return qsim_calibrate(s, read_batch, &reader, nullptr, nullptr);
}

qsim_adaround_options adaround_options(uint64_t memory_budget = 0) {
  qsim_adaround_options options;
  qsim_adaround_options_init(&options, sizeof options);
  options.num_iterations = 100;
  options.learning_rate = 0.05;  // flips some rounding within 100 iterations
  options.num_samples = kSamples;
  options.batch_samples = kBatch;
  options.seed = 7;
  if (memory_budget != 0) options.memory_budget_bytes = memory_budget;
  return options;
}

// The options are made before the call (the options' init is an API call of its own).
qsim_status adaround(qsim_session* s, uint64_t memory_budget = 0) {
  assert(memory_budget == 0 || memory_budget == 1);
  static const qsim_adaround_options in_memory = adaround_options();
  static const qsim_adaround_options on_disk = adaround_options(1);
  Reader reader;
  return qsim_adaround(s, read_batch, &reader, memory_budget == 0 ? &in_memory : &on_disk, nullptr,
                       nullptr);
}

// Everything a caller can read of the session's encodings.
struct EncodingState {
  std::vector<std::string> names;
  std::vector<std::vector<float>> scales;
  std::vector<std::vector<int32_t>> offsets;
  bool operator==(const EncodingState&) const = default;
};

EncodingState encodings(const qsim_session* s) {
  EncodingState state;
  size_t count = 0;
  REQUIRE(qsim_encoding_count(s, &count) == QSIM_OK);
  for (size_t i = 0; i < count; ++i) {
    qsim_encoding_info info{};
    info.struct_size = sizeof info;
    REQUIRE(qsim_get_encoding(s, i, &info) == QSIM_OK);
    std::vector<float> scales(info.num_channels);
    std::vector<int32_t> offsets(info.num_channels);
    if (info.quantized)
      REQUIRE(qsim_get_encoding_channels(s, i, scales.data(), offsets.data(), scales.size()) ==
              QSIM_OK);
    state.names.push_back(info.name + std::string(":") + std::to_string(info.bitwidth));
    state.scales.push_back(std::move(scales));
    state.offsets.push_back(std::move(offsets));
  }
  return state;
}

// Outputs of the first kEvalSamples samples; empty when the run fails (not calibrated).
std::vector<float> outputs(qsim_session* s, qsim_run_mode mode) {
  std::vector<float> logits(kEvalSamples * 10);
  const qsim_tensor in = input_tensor(samples().data(), kEvalSamples);
  qsim_tensor out{};
  out.data = logits.data();
  out.size_bytes = logits.size() * sizeof(float);
  if (qsim_run(s, mode, &in, 1, &out, 1) != QSIM_OK) return {};
  return logits;
}

using Files = std::map<std::string, std::string>;

// Every entry of `dir` (hidden temporary files included) with its bytes; empty when `dir`
// does not exist.
Files read_folder(const fs::path& dir) {
  Files files;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    files[entry.path().filename().string()] = bytes.str();
  }
  return files;
}

qsim_status export_to(qsim_session* s, const fs::path& dir) {
  static const qsim_export_options options = [] {
    qsim_export_options o;
    qsim_export_options_init(&o, sizeof o);
    return o;
  }();
  return qsim_export(s, dir.c_str(), &options);
}

fs::path temp_folder(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("qsim-fault-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// What a session that never saw a failure computes and writes.
struct Reference {
  EncodingState calibrated;
  std::vector<float> calibrated_outputs;
  EncodingState rounded;
  std::vector<float> rounded_outputs;
  Files exported;
};

const Reference& reference(qsim_calibration_method method) {
  static std::map<qsim_calibration_method, Reference> computed;
  if (computed.count(method) != 0) return computed[method];
  Reference& r = computed[method];
  {
    Session s = create(1, method);
    REQUIRE(calibrate(s.get()) == QSIM_OK);
    r.calibrated = encodings(s.get());
    r.calibrated_outputs = outputs(s.get(), QSIM_RUN_QUANTIZED);
    REQUIRE(adaround(s.get()) == QSIM_OK);
    r.rounded = encodings(s.get());
    r.rounded_outputs = outputs(s.get(), QSIM_RUN_QUANTIZED);
    const fs::path dir = temp_folder("reference");
    REQUIRE(export_to(s.get(), dir / "out") == QSIM_OK);
    r.exported = read_folder(dir / "out");
    fs::remove_all(dir);
    REQUIRE(r.exported.size() == 5);
    REQUIRE(!r.calibrated_outputs.empty());
    REQUIRE(r.rounded_outputs != r.calibrated_outputs);  // AdaRound changed some rounding
  }
  return r;
}

// The operations of `kind` one call makes (after a first, uncounted call has done any
// one-time initialization).
template <typename Call>
long count_operations(fault::Kind kind, const Call& call) {
  fault::arm(kind, 0);
  call();
  return fault::disarm();
}

// QSIM_FAULT_EVERY_POINT=1 fails every operation in turn instead of the first of each call
// stack (docs/FAULTS.md): minutes instead of seconds.
std::vector<long> points(long total, const char* call, fault::Kind kind) {
  const char* every = std::getenv("QSIM_FAULT_EVERY_POINT");
  // File calls are few except the disk cache's reads and writes (one per sample).
  std::vector<long> chosen =
      fault::failure_points(total, (every != nullptr && std::string(every) == "1") ||
                                       (kind == fault::Kind::kFile && total <= 256));
  std::printf("%s: %ld %ss, %zu failure points tried\n", call, total,
              kind == fault::Kind::kAllocation ? "allocation" : "file operation", chosen.size());
  return chosen;
}

qsim_status expected_status(fault::Kind kind) {
  return kind == fault::Kind::kAllocation ? QSIM_ERR_OUT_OF_MEMORY : QSIM_ERR_IO;
}

const char* kind_name(fault::Kind kind) {
  return kind == fault::Kind::kAllocation ? "allocation" : "file operation";
}

// A failed call names a cause; a call that absorbed the failure (a nothrow allocation with a
// fallback, as std::stable_sort has) must have done its work exactly.
void check_status(qsim_status status, fault::Kind kind, long n) {
  INFO(kind_name(kind) << " " << n << " failed: " << qsim_status_name(status) << ": "
                       << last_error());
  if (status == QSIM_OK) return;
  REQUIRE(status == expected_status(kind));
  REQUIRE(!last_error().empty());
}

// ---- qsim_create -----------------------------------------------------------------------

void sweep_create(fault::Kind kind, bool persistent) {
  const qsim_options options = session_options(1, kTfEnhanced);
  const std::string path = model_path();  // allocated before the count starts
  auto call = [&] {
    qsim_session* s = nullptr;
    const qsim_status status = qsim_create(path.c_str(), &options, &s);
    return std::make_pair(status, Session(s));
  };
  call();
  const long total = count_operations(kind, call);
  INFO("qsim_create makes " << total << " " << kind_name(kind) << "s");
  REQUIRE(total > 0);
  for (const long n : points(total, "qsim_create", kind)) {
    fault::arm(kind, n, persistent);
    auto [status, session] = call();
    fault::disarm();
    check_status(status, kind, n);
    if (status != QSIM_OK) REQUIRE(session == nullptr);
  }
}

TEST_CASE("every allocation and file read of qsim_create can fail") {
  sweep_create(fault::Kind::kAllocation, false);
  sweep_create(fault::Kind::kAllocation, true);
  sweep_create(fault::Kind::kFile, false);
}

// ---- qsim_calibrate --------------------------------------------------------------------

// A session a failed call left as it was serves the next failure point too; a fresh one is
// made after a success, and the call is retried (the session goes on) every so often.
constexpr size_t kRetryEvery = 16;

void sweep_calibrate(fault::Kind kind, bool persistent, bool calibrated_before) {
  const Reference& ref = reference(kTfEnhanced);
  auto prepare = [&] {
    Session s = create(1, kTfEnhanced);
    if (calibrated_before) REQUIRE(calibrate(s.get()) == QSIM_OK);
    return s;
  };
  long total = 0;
  {
    Session s = prepare();
    total = count_operations(kind, [&] { REQUIRE(calibrate(s.get()) == QSIM_OK); });
  }
  INFO("qsim_calibrate makes " << total << " " << kind_name(kind) << "s");
  REQUIRE(total > 0);
  const std::vector<long> chosen = points(total, "qsim_calibrate", kind);
  Session s;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const long n = chosen[i];
    if (!s) s = prepare();
    fault::arm(kind, n, persistent);
    const qsim_status status = calibrate(s.get());
    fault::disarm();
    check_status(status, kind, n);
    INFO("after " << kind_name(kind) << " " << n << " of qsim_calibrate failed");
    // As before the call: the encodings it had, or none.
    if (status == QSIM_OK || calibrated_before) {
      REQUIRE(encodings(s.get()) == ref.calibrated);
      REQUIRE(outputs(s.get(), QSIM_RUN_QUANTIZED) == ref.calibrated_outputs);
    } else {
      REQUIRE(encodings(s.get()).names.empty());
      REQUIRE(outputs(s.get(), QSIM_RUN_QUANTIZED).empty());
    }
    if (status != QSIM_OK && i % kRetryEvery != 0 && i + 1 != chosen.size()) continue;
    // And it goes on as if nothing had happened.
    REQUIRE(calibrate(s.get()) == QSIM_OK);
    REQUIRE(encodings(s.get()) == ref.calibrated);
    REQUIRE(outputs(s.get(), QSIM_RUN_QUANTIZED) == ref.calibrated_outputs);
    s.reset();
  }
}

TEST_CASE("every allocation of qsim_calibrate can fail") {
  SECTION("first calibration") {
    sweep_calibrate(fault::Kind::kAllocation, false, false);
  }
  SECTION("recalibration") {
    sweep_calibrate(fault::Kind::kAllocation, false, true);
  }
  SECTION("memory stays exhausted") {
    sweep_calibrate(fault::Kind::kAllocation, true, false);
  }
}

// ---- qsim_adaround ---------------------------------------------------------------------

// memory_budget 1: AdaRound caches the layer inputs in a temporary file (its file calls).
void sweep_adaround(fault::Kind kind, bool persistent, uint64_t memory_budget, int threads) {
  const Reference& ref = reference(kMinMax);
  auto prepare = [&] {
    Session s = create(threads, kMinMax);
    REQUIRE(calibrate(s.get()) == QSIM_OK);
    return s;
  };
  long total = 0;
  {
    Session s = prepare();
    total = count_operations(kind, [&] { REQUIRE(adaround(s.get(), memory_budget) == QSIM_OK); });
  }
  INFO("qsim_adaround makes " << total << " " << kind_name(kind) << "s");
  REQUIRE(total > 0);
  const std::vector<long> chosen = points(total, "qsim_adaround", kind);
  Session s;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const long n = chosen[i];
    if (!s) s = prepare();
    fault::arm(kind, n, persistent);
    const qsim_status status = adaround(s.get(), memory_budget);
    fault::disarm();
    check_status(status, kind, n);
    INFO("after " << kind_name(kind) << " " << n << " of qsim_adaround failed");
    if (status == QSIM_OK) {
      REQUIRE(encodings(s.get()) == ref.rounded);
      REQUIRE(outputs(s.get(), QSIM_RUN_QUANTIZED) == ref.rounded_outputs);
      s.reset();
      continue;
    }
    REQUIRE(encodings(s.get()) == ref.calibrated);
    REQUIRE(outputs(s.get(), QSIM_RUN_QUANTIZED) == ref.calibrated_outputs);
    if (i % kRetryEvery != 0 && i + 1 != chosen.size()) continue;
    REQUIRE(adaround(s.get(), memory_budget) == QSIM_OK);
    REQUIRE(encodings(s.get()) == ref.rounded);
    REQUIRE(outputs(s.get(), QSIM_RUN_QUANTIZED) == ref.rounded_outputs);
    s.reset();
  }
}

TEST_CASE("every allocation and file call of qsim_adaround can fail") {
  SECTION("allocations") {
    sweep_adaround(fault::Kind::kAllocation, false, 0, 1);
  }
  SECTION("memory stays exhausted") {
    sweep_adaround(fault::Kind::kAllocation, true, 0, 1);
  }
  SECTION("allocations, samples cached on disk") {
    sweep_adaround(fault::Kind::kAllocation, false, 1, 1);
  }
  SECTION("file calls of the disk cache") {
    sweep_adaround(fault::Kind::kFile, false, 1, 1);
  }
  // On two threads the order of allocations varies between runs; every point still fails
  // cleanly, wherever it lands (the worker threads' allocations included).
  SECTION("allocations, two threads") {
    sweep_adaround(fault::Kind::kAllocation, true, 0, 2);
  }
}

// ---- qsim_export -----------------------------------------------------------------------

// The folder after an export: all of the reference files, or nothing (`kept` aside: files
// that were there before).
void check_all_or_none(const fs::path& dir, const Files& kept, qsim_status status) {
  Files now = read_folder(dir);
  for (const auto& [name, bytes] : kept) {
    REQUIRE(now.count(name) == 1);
    REQUIRE(now[name] == bytes);
    now.erase(name);
  }
  if (status == QSIM_OK) {
    REQUIRE(now == reference(kMinMax).exported);
  } else {
    INFO("left behind: " << (now.empty() ? std::string("nothing") : now.begin()->first));
    REQUIRE(now.empty());
  }
}

void sweep_export(fault::Kind kind, bool persistent, bool folder_exists) {
  const Reference& ref = reference(kMinMax);
  Session s = create(1, kMinMax);
  REQUIRE(calibrate(s.get()) == QSIM_OK);
  REQUIRE(adaround(s.get()) == QSIM_OK);
  const fs::path root = temp_folder("export");
  const fs::path out = root / "out";
  Files kept;
  auto prepare = [&] {
    fs::remove_all(out);
    if (folder_exists) {
      fs::create_directories(out);
      std::ofstream(out / "keep.txt") << "the user's file";
      kept = {{"keep.txt", "the user's file"}};
    }
  };
  prepare();
  const long total = count_operations(kind, [&] { REQUIRE(export_to(s.get(), out) == QSIM_OK); });
  INFO("qsim_export makes " << total << " " << kind_name(kind) << "s");
  REQUIRE(total > 0);
  for (const long n : points(total, "qsim_export", kind)) {
    prepare();
    fault::arm(kind, n, persistent);
    const qsim_status status = export_to(s.get(), out);
    fault::disarm();
    check_status(status, kind, n);
    INFO("after " << kind_name(kind) << " " << n << " of qsim_export failed");
    check_all_or_none(out, kept, status);
    if (!folder_exists && status != QSIM_OK) REQUIRE(!fs::exists(out));  // not left created
    REQUIRE(encodings(s.get()) == ref.rounded);
    prepare();
    REQUIRE(export_to(s.get(), out) == QSIM_OK);
    check_all_or_none(out, kept, QSIM_OK);
  }
  fs::remove_all(root);
}

TEST_CASE("every allocation and file call of qsim_export can fail") {
  SECTION("allocations") {
    sweep_export(fault::Kind::kAllocation, false, false);
  }
  SECTION("memory stays exhausted") {
    sweep_export(fault::Kind::kAllocation, true, true);
  }
  SECTION("file calls, new folder") {
    sweep_export(fault::Kind::kFile, false, false);
  }
  SECTION("file calls, existing folder") {
    sweep_export(fault::Kind::kFile, false, true);
  }
}

TEST_CASE("the output folder removed while an export renames its files into place") {
  const Reference& ref = reference(kMinMax);
  Session s = create(1, kMinMax);
  REQUIRE(calibrate(s.get()) == QSIM_OK);
  REQUIRE(adaround(s.get()) == QSIM_OK);
  const fs::path root = temp_folder("removed");
  const fs::path out = root / "out";
  for (long victim = 1; victim <= static_cast<long>(ref.exported.size()); ++victim) {
    for (bool recreate : {false, true}) {
      INFO("folder removed before rename " << victim << (recreate ? ", then made again" : ""));
      fs::remove_all(out);
      fault::arm(fault::Kind::kFile, 0);
      fault::before_rename([&](long number) {
        if (number != victim) return;
        fs::remove_all(out);
        if (recreate) fs::create_directories(out);
      });
      const qsim_status status = export_to(s.get(), out);
      fault::disarm();
      INFO(last_error());
      REQUIRE(status == QSIM_ERR_IO);
      REQUIRE(last_error().find("out") != std::string::npos);
      check_all_or_none(out, {}, status);
      REQUIRE(export_to(s.get(), out) == QSIM_OK);
      check_all_or_none(out, {}, QSIM_OK);
    }
  }
  fs::remove_all(root);
}

// ---- A full disk ------------------------------------------------------------------------

// Runs `body` in a child process (single-threaded, so it may enter a private mount namespace)
// and returns its exit status; the child reports what went wrong on stderr.
template <typename Body>
int in_child(const Body& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 1;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "child: a check failed\n");
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool write_text(const char* path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out.flush());
}

// A tmpfs of `bytes` on `dir`, seen only by this process: as root, a new mount namespace;
// otherwise a user namespace mapping this user to root in it.
bool mount_private_tmpfs(const fs::path& dir, size_t bytes) {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWNS) != 0) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
    if (!write_text("/proc/self/setgroups", "deny") ||
        !write_text("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_text("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
      return false;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  const std::string size = "size=" + std::to_string(bytes);
  return ::mount("tmpfs", dir.c_str(), "tmpfs", 0, size.c_str()) == 0;
}

// Leaves `free_bytes` free on the file system of `dir` with a filler file.
bool fill_leaving(const fs::path& dir, size_t free_bytes) {
  fs::remove(dir / "filler");
  struct statvfs info;
  if (::statvfs(dir.c_str(), &info) != 0) return false;
  const size_t available = static_cast<size_t>(info.f_bavail) * info.f_frsize;
  if (available <= free_bytes) return true;
  std::ofstream filler(dir / "filler", std::ios::binary);
  const std::string block(4096, 'x');
  for (size_t left = available - free_bytes; left > 0;) {
    const size_t n = std::min(left, block.size());
    filler.write(block.data(), static_cast<std::streamsize>(n));
    left -= n;
  }
  return static_cast<bool>(filler.flush());
}

#define CHILD_CHECK(condition, ...)                                               \
  do {                                                                            \
    if (!(condition)) {                                                           \
      std::fprintf(stderr, "child: %s:%d: " #condition ": ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                                          \
      std::fprintf(stderr, "\n");                                                 \
      return 1;                                                                   \
    }                                                                             \
  } while (0)

TEST_CASE("a full disk fails an export and AdaRound's disk cache cleanly") {
  const Reference& ref = reference(kMinMax);
  size_t export_bytes = 0;
  for (const auto& [name, bytes] : ref.exported) export_bytes += bytes.size();
  const fs::path disk = temp_folder("disk");
  const fs::path elsewhere = temp_folder("elsewhere");
  const int code = in_child([&]() -> int {
    // 1 MiB of tmpfs; without namespaces (a locked-down container), the file size limit
    // gives the writes EFBIG instead of ENOSPC.
    const bool tmpfs = mount_private_tmpfs(disk, 1 << 20);
    std::fprintf(stderr, "full-disk test on %s\n",
                 tmpfs ? "a private 1 MiB tmpfs" : "RLIMIT_FSIZE (no mount namespace here)");
    if (!tmpfs) std::signal(SIGXFSZ, SIG_IGN);
    qsim_session* raw = nullptr;
    const qsim_options options = session_options(1, kMinMax);
    CHILD_CHECK(qsim_create(model_path().c_str(), &options, &raw) == QSIM_OK, "%s",
                qsim_last_error());
    Session s(raw);
    CHILD_CHECK(calibrate(s.get()) == QSIM_OK, "%s", qsim_last_error());
    CHILD_CHECK(adaround(s.get()) == QSIM_OK, "%s", qsim_last_error());
    int failures = 0, successes = 0;
    // From no room at all to room for every file, a page at a time.
    for (size_t room = 0; room <= export_bytes + 5 * 8192; room += 4096) {
      if (tmpfs) {
        CHILD_CHECK(fill_leaving(disk, room), "cannot fill %s", disk.c_str());
      } else {
        struct rlimit limit = {room, RLIM_INFINITY};
        ::setrlimit(RLIMIT_FSIZE, &limit);
      }
      const qsim_status status = export_to(s.get(), disk / "out");
      if (!tmpfs) {
        struct rlimit limit = {RLIM_INFINITY, RLIM_INFINITY};
        ::setrlimit(RLIMIT_FSIZE, &limit);
      }
      const Files now = read_folder(disk / "out");
      if (status == QSIM_OK) {
        ++successes;
        CHILD_CHECK(now == ref.exported, "room %zu: export differs", room);
        fs::remove_all(disk / "out");
      } else {
        ++failures;
        CHILD_CHECK(status == QSIM_ERR_IO, "room %zu: %s: %s", room, qsim_status_name(status),
                    qsim_last_error());
        CHILD_CHECK(std::strstr(qsim_last_error(), tmpfs ? "No space" : "too large") != nullptr,
                    "room %zu: %s", room, qsim_last_error());
        CHILD_CHECK(now.empty() && !fs::exists(disk / "out"), "room %zu: files left", room);
        // The session still exports, where there is room.
        CHILD_CHECK(export_to(s.get(), elsewhere / "out") == QSIM_OK, "%s", qsim_last_error());
        CHILD_CHECK(read_folder(elsewhere / "out") == ref.exported, "room %zu", room);
        fs::remove_all(elsewhere / "out");
      }
    }
    std::fprintf(stderr, "export: %d failed cleanly, %d succeeded\n", failures, successes);
    CHILD_CHECK(failures > 0 && successes > 0, "the range of room missed a case");
    if (!tmpfs) return 0;
    // AdaRound with its sample cache on the full disk (memory budget 1 byte).
    Session fresh;
    {
      qsim_session* raw2 = nullptr;
      CHILD_CHECK(qsim_create(model_path().c_str(), &options, &raw2) == QSIM_OK, "%s",
                  qsim_last_error());
      fresh.reset(raw2);
    }
    CHILD_CHECK(calibrate(fresh.get()) == QSIM_OK, "%s", qsim_last_error());
    ::setenv("TMPDIR", disk.c_str(), 1);
    CHILD_CHECK(fill_leaving(disk, 0), "cannot fill");
    const qsim_status full = adaround(fresh.get(), 1);
    CHILD_CHECK(full == QSIM_ERR_IO, "adaround on a full disk: %s: %s", qsim_status_name(full),
                qsim_last_error());
    CHILD_CHECK(encodings(fresh.get()) == ref.calibrated, "encodings changed");
    CHILD_CHECK(outputs(fresh.get(), QSIM_RUN_QUANTIZED) == ref.calibrated_outputs, "outputs");
    fs::remove(disk / "filler");
    CHILD_CHECK(adaround(fresh.get(), 1) == QSIM_OK, "%s", qsim_last_error());
    CHILD_CHECK(encodings(fresh.get()) == ref.rounded, "rounded encodings differ");
    CHILD_CHECK(outputs(fresh.get(), QSIM_RUN_QUANTIZED) == ref.rounded_outputs, "outputs");
    return 0;
  });
  fs::remove_all(disk);
  fs::remove_all(elsewhere);
  REQUIRE(code == 0);
}

}  // namespace
