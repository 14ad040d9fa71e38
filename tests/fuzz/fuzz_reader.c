/* The dependency-free C reader of FlatBuffers encodings (reader/qsim_encodings_reader.c):
   open, then every accessor on every tensor and channel, as an on-target runtime would. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qsim_encodings_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qsim_enc_file file;
  if (qsim_enc_open(&file, data, size) != QSIM_ENC_OK) return 0;
  volatile size_t sink = 0;
  sink += qsim_enc_schema_version(&file);
  sink += strlen(qsim_enc_producer_version(&file));
  sink += strlen(qsim_enc_model_fingerprint(&file));
  sink += (size_t)qsim_enc_get_target(&file);
  const uint32_t count = qsim_enc_tensor_count(&file);
  for (uint32_t i = 0; i < count; ++i) {
    qsim_enc_tensor tensor;
    if (qsim_enc_get_tensor(&file, i, &tensor) != QSIM_ENC_OK) continue;
    sink += strlen(tensor.name);
    /* Looked up by its name: the first tensor of that name. */
    qsim_enc_tensor found;
    if (i < 64) sink += (size_t)qsim_enc_find_tensor(&file, tensor.name, &found);
    for (uint32_t c = 0; c < tensor.channel_count; ++c) {
      qsim_enc_channel channel;
      if (qsim_enc_get_channel(&tensor, c, &channel) == QSIM_ENC_OK) sink += (size_t)channel.offset;
    }
    /* One past the end is an error, not a read. */
    qsim_enc_channel past;
    sink += (size_t)qsim_enc_get_channel(&tensor, tensor.channel_count, &past);
  }
  qsim_enc_tensor missing;
  sink += (size_t)qsim_enc_find_tensor(&file, "no such tensor", &missing);
  (void)sink;
  return 0;
}
