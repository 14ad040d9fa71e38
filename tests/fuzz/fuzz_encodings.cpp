// qsim_load_encodings on a session of models/mobilenet_fmnist.onnx (the model the seed
// encodings were exported from, so well-formed inputs reach the checks against the model).
// Built twice: fuzz_encodings_json (AIMET JSON 0.6.1 and 1.0.0 seeds) and fuzz_encodings_fbs
// (FlatBuffers seeds); qsim_load_encodings tells the formats apart by the FlatBuffers
// identifier, so either target can reach both parsers.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_file.h"
#include "qsim/qsim.h"

#ifndef QSIM_SOURCE_DIR
#error "QSIM_SOURCE_DIR must name the source tree"
#endif

namespace {

qsim_session* g_session = nullptr;
qsim_fuzz::MemFile* g_file = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  qsim_options options;
  qsim_options_init(&options, sizeof options);
  options.num_threads = 1;
  const std::string model = std::string(QSIM_SOURCE_DIR) + "/models/mobilenet_fmnist.onnx";
  if (qsim_create(model.c_str(), &options, &g_session) != QSIM_OK) {
    std::fprintf(stderr, "fuzz_encodings: %s\n", qsim_last_error());
    std::abort();
  }
  g_file = new qsim_fuzz::MemFile("qsim_fuzz_encodings");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_file->write(data, size);
  if (qsim_load_encodings(g_session, g_file->path()) == QSIM_OK) {
    // Read back what was loaded, as a caller would.
    size_t count = 0;
    qsim_encoding_count(g_session, &count);
    for (size_t i = 0; i < count; ++i) {
      qsim_encoding_info info;
      info.struct_size = sizeof info;
      if (qsim_get_encoding(g_session, i, &info) != QSIM_OK) continue;
      if (info.num_channels > 0 && info.num_channels <= 4096) {
        float scales[4096];
        int32_t offsets[4096];
        qsim_get_encoding_channels(g_session, i, scales, offsets, 4096);
      }
    }
  }
  return 0;
}
