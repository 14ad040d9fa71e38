// Quantizes an ONNX model end to end from C++ through qsim's C API (qsim/qsim.h only):
//
//   quantize_cpp MODEL.onnx CALIB.npy OUT_DIR
//
// The same steps as samples/c/quantize.c, written the way a C++ program holds a C library:
// handles in unique_ptr with their destroy function, failures as exceptions carrying the
// status and the message. Calibration data is read 32 samples at a time by the library;
// AdaRound runs 100 iterations per layer on 128 samples; every format is exported. C++17.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "qsim/qsim.h"

namespace {

struct SessionDeleter {
  void operator()(qsim_session* s) const { qsim_destroy(s); }
};
struct SourceDeleter {
  void operator()(qsim_data_source* s) const { qsim_data_source_destroy(s); }
};
struct TextDeleter {
  void operator()(char* text) const { qsim_free(text); }
};
using Session = std::unique_ptr<qsim_session, SessionDeleter>;
using DataSource = std::unique_ptr<qsim_data_source, SourceDeleter>;
using Text = std::unique_ptr<char, TextDeleter>;

class QsimError : public std::runtime_error {
 public:
  QsimError(qsim_status status, const std::string& message)
      : std::runtime_error(std::string(qsim_status_name(status)) + ": " + message),
        status_(status) {}
  qsim_status status() const { return status_; }

 private:
  qsim_status status_;
};

// A session call's message is the session's; calls without one keep it per thread.
void check(qsim_status status, const qsim_session* session = nullptr) {
  if (status != QSIM_OK)
    throw QsimError(status, session ? qsim_session_last_error(session) : qsim_last_error());
}

int print_progress(void*, int64_t done, int64_t total, const char* message) {
  // Calibration (total -1): every batch; AdaRound: the first and last iteration of the run.
  if (total < 0 || done == 0 || done == total) std::printf("  %s\n", message);
  return 0;
}

void quantize(const char* model, const char* calib, const char* out_dir) {
  qsim_data_source* raw_source = nullptr;
  check(qsim_data_source_from_npy(&calib, 1, 32, &raw_source));
  DataSource source(raw_source);
  qsim_session* raw_session = nullptr;
  check(qsim_create(model, nullptr, &raw_session));
  Session session(raw_session);

  check(qsim_calibrate(session.get(), qsim_data_source_read, source.get(), print_progress, nullptr),
        session.get());
  qsim_adaround_options adaround;
  check(qsim_adaround_options_init(&adaround, sizeof adaround));
  adaround.num_iterations = 100;
  adaround.num_samples = 128;
  // The source starts from its first sample again: every call rewinds it.
  check(qsim_adaround(session.get(), qsim_data_source_read, source.get(), &adaround, print_progress,
                      nullptr),
        session.get());
  check(qsim_export(session.get(), out_dir, nullptr), session.get());

  char* raw_notes = nullptr;
  check(qsim_get_notes(session.get(), &raw_notes), session.get());
  const Text notes(raw_notes);
  const std::string text(notes.get());
  std::printf("%s\nexported into %s\n", text.substr(0, text.find('\n')).c_str(), out_dir);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s MODEL.onnx CALIB.npy OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    quantize(argv[1], argv[2], argv[3]);
    return 0;
  } catch (const QsimError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
