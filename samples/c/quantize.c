/* Quantizes an ONNX model end to end through qsim's C API (qsim/qsim.h only):
 *
 *   quantize MODEL.onnx CALIB.npy OUT_DIR
 *
 * CALIB.npy holds float32 samples [N, ...] of the model's single input. The program streams
 * them to qsim_calibrate in batches through a data reader, shows the progress, exports every
 * format into OUT_DIR, reads one weight encoding back through the getters, and runs a
 * quantized inference on the first sample next to a float one. C99. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qsim/qsim.h"

#define BATCH 32

/* ---- A tiny float32 .npy reader (C order, format 1.0 to 3.0) ---------------------------- */

typedef struct npy_array {
  float* data;
  int32_t rank;
  int64_t shape[QSIM_MAX_RANK];
  size_t count; /* elements */
} npy_array;

static unsigned char* read_whole_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* bytes = NULL;
  long length;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (length = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
    bytes = malloc((size_t)length);
    if (bytes != NULL && fread(bytes, 1, (size_t)length, f) != (size_t)length) {
      free(bytes);
      bytes = NULL;
    }
    *size = (size_t)length;
  }
  fclose(f);
  return bytes;
}

/* Fills `array` from a .npy file's bytes; returns an error message or NULL. */
static const char* parse_npy_float32(const unsigned char* bytes, size_t size, npy_array* array) {
  size_t header_start, header_length, offset;
  char header[4096];
  const char* shape;
  if (size < 12 || memcmp(bytes, "\x93NUMPY", 6) != 0) return "not a .npy file";
  header_start = bytes[6] == 1 ? 10 : 12;
  header_length = bytes[8] | (size_t)bytes[9] << 8;
  if (bytes[6] != 1) header_length |= (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24;
  if (header_length >= sizeof header || header_start + header_length > size)
    return "bad .npy header";
  memcpy(header, bytes + header_start, header_length);
  header[header_length] = '\0';
  if (strstr(header, "'descr': '<f4'") == NULL) return "the samples must be float32 ('<f4')";
  if (strstr(header, "'fortran_order': False") == NULL) return "the samples must be in C order";
  shape = strstr(header, "'shape': (");
  if (shape == NULL) return "bad .npy header";
  shape += strlen("'shape': (");
  array->rank = 0;
  array->count = 1;
  while (*shape >= '0' && *shape <= '9' && array->rank < QSIM_MAX_RANK) {
    char* end;
    array->shape[array->rank] = strtoll(shape, &end, 10);
    array->count *= (size_t)array->shape[array->rank++];
    while (*end == ',' || *end == ' ') ++end;
    shape = end;
  }
  offset = header_start + header_length;
  if (array->rank < 2 || array->shape[0] == 0 || size - offset < array->count * sizeof(float))
    return "bad .npy shape or data";
  array->data = malloc(array->count * sizeof(float));
  if (array->data == NULL) return "out of memory";
  memcpy(array->data, bytes + offset, array->count * sizeof(float)); /* little-endian host */
  return NULL;
}

static const char* read_npy_float32(const char* path, npy_array* array) {
  size_t size = 0;
  unsigned char* bytes = read_whole_file(path, &size);
  const char* problem = bytes ? parse_npy_float32(bytes, size, array) : "cannot read the file";
  free(bytes);
  return problem;
}

/* ---- Calibration data and progress ------------------------------------------------------ */

typedef struct sample_batches {
  const npy_array* samples;
  int64_t next; /* first sample of the next batch */
} sample_batches;

static size_t floats_per_sample(const npy_array* a) {
  return a->count / (size_t)a->shape[0];
}

/* qsim_data_reader_fn: points the model's one input at the next BATCH samples. */
static int next_batch(void* user_data, qsim_tensor* inputs, size_t num_inputs) {
  sample_batches* batches = user_data;
  const npy_array* a = batches->samples;
  int64_t count = a->shape[0] - batches->next;
  int32_t d;
  if (num_inputs != 1) return -1;
  if (count <= 0) return 0;
  if (count > BATCH) count = BATCH;
  inputs[0].dtype = QSIM_DTYPE_FLOAT32;
  inputs[0].rank = a->rank;
  inputs[0].shape[0] = count;
  for (d = 1; d < a->rank; ++d) inputs[0].shape[d] = a->shape[d];
  inputs[0].data = a->data + (size_t)batches->next * floats_per_sample(a);
  inputs[0].size_bytes = (size_t)count * floats_per_sample(a) * sizeof(float);
  batches->next += count;
  return 1;
}

/* qsim_progress_fn: one line per batch; never cancels. */
static int show_progress(void* user_data, int64_t done, int64_t total, const char* message) {
  const npy_array* a = user_data;
  (void)done;  /* the message counts the batches */
  (void)total; /* -1: only the reader knows when the data ends */
  printf("  %s of %lld\n", message, (long long)((a->shape[0] + BATCH - 1) / BATCH));
  return 0;
}

/* ---- The steps -------------------------------------------------------------------------- */

static int check(qsim_status status, const char* what) {
  if (status == QSIM_OK) return 1;
  fprintf(stderr, "%s failed: %s: %s\n", what, qsim_status_name(status), qsim_last_error());
  return 0;
}

/* Prints the first weight encoding: what runtimes read from the exported files. */
static int print_first_weight(qsim_session* session) {
  size_t count = 0, i;
  if (!check(qsim_encoding_count(session, &count), "qsim_encoding_count")) return 0;
  printf("%zu encodings\n", count);
  for (i = 0; i < count; ++i) {
    qsim_encoding_info info;
    float* scales;
    int32_t* offsets;
    info.struct_size = sizeof info;
    if (!check(qsim_get_encoding(session, i, &info), "qsim_get_encoding")) return 0;
    if (info.role != QSIM_ROLE_WEIGHT) continue;
    scales = malloc(info.num_channels * sizeof(float));
    offsets = malloc(info.num_channels * sizeof(int32_t));
    if (scales == NULL || offsets == NULL ||
        !check(qsim_get_encoding_channels(session, i, scales, offsets, info.num_channels),
               "qsim_get_encoding_channels")) {
      free(scales);
      free(offsets);
      return 0;
    }
    printf("weight '%s': %d bits, %zu channel(s), channel 0: scale %g offset %d\n", info.name,
           info.bitwidth, info.num_channels, scales[0], offsets[0]);
    free(scales);
    free(offsets);
    return 1;
  }
  fprintf(stderr, "no weight encoding found\n");
  return 0;
}

/* Runs the first sample in `mode` and prints its outputs' first values. */
static int run_first_sample(qsim_session* session, const npy_array* a, qsim_run_mode mode) {
  qsim_tensor input, output;
  float* values;
  size_t i, shown;
  int32_t d;
  int ok;
  memset(&input, 0, sizeof input);
  memset(&output, 0, sizeof output);
  input.dtype = QSIM_DTYPE_FLOAT32;
  input.rank = a->rank;
  input.shape[0] = 1;
  for (d = 1; d < a->rank; ++d) input.shape[d] = a->shape[d];
  input.data = a->data;
  input.size_bytes = floats_per_sample(a) * sizeof(float);
  if (!check(qsim_infer_shapes(session, &input, 1, &output, 1), "qsim_infer_shapes")) return 0;
  values = malloc(output.size_bytes + 1);
  if (values == NULL) return 0;
  output.data = values;
  ok = check(qsim_run(session, mode, &input, 1, &output, 1), "qsim_run");
  if (ok) {
    shown = output.size_bytes / sizeof(float) < 10 ? output.size_bytes / sizeof(float) : 10;
    printf("%s '%s':", mode == QSIM_RUN_QUANTIZED ? "quantized" : "float    ", output.name);
    for (i = 0; i < shown; ++i) printf(" %.3f", values[i]);
    printf("\n");
  }
  free(values);
  return ok;
}

int main(int argc, char** argv) {
  npy_array samples;
  sample_batches batches;
  qsim_options options;
  qsim_session* session = NULL;
  const char* problem;
  int ok;
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODEL.onnx CALIB.npy OUT_DIR\n", argv[0]);
    return 2;
  }
  problem = read_npy_float32(argv[2], &samples);
  if (problem != NULL) {
    fprintf(stderr, "%s: %s\n", argv[2], problem);
    return 1;
  }
  printf("qsim %s: %lld calibration samples\n", qsim_version(), (long long)samples.shape[0]);

  QSIM_OPTIONS_INIT(&options);
  options.per_channel = 1; /* one weight scale per output channel */
  batches.samples = &samples;
  batches.next = 0;
  ok = check(qsim_create(argv[1], &options, &session), "qsim_create") &&
       check(qsim_calibrate(session, next_batch, &batches, show_progress, &samples),
             "qsim_calibrate") &&
       check(qsim_export(session, argv[3], NULL), "qsim_export") && print_first_weight(session) &&
       run_first_sample(session, &samples, QSIM_RUN_FLOAT) &&
       run_first_sample(session, &samples, QSIM_RUN_QUANTIZED);
  if (ok) printf("exported into %s\n", argv[3]);
  qsim_destroy(session);
  free(samples.data);
  return ok ? 0 : 1;
}
