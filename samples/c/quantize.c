/* Quantizes an ONNX model end to end through qsim's C API (qsim/qsim.h only):
 *
 *   quantize MODEL.onnx CALIB.npy OUT_DIR
 *
 * CALIB.npy holds float32 samples [N, ...] of the model's single input. The library reads
 * them 32 at a time (qsim_data_source_from_npy), calibrates, runs AdaRound (100 iterations per
 * layer on 128 samples), exports every format into OUT_DIR, reads one weight encoding back
 * through the getters, and runs the first batch quantized next to float. The samples in
 * samples/ for C++, Python, Rust and Go do the same steps and write the same bytes. C99. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qsim/qsim.h"

#define BATCH 32

/* qsim_progress_fn: one line per calibration batch, one per 10% of AdaRound and its summary;
   never cancels. */
static int show_progress(void* user_data, int64_t done, int64_t total, const char* message) {
  int64_t* next_tenth = user_data;
  if (total < 0) {
    printf("  %s\n", message); /* calibration: only the reader knows how many batches come */
  } else if (done == total || done * 10 >= *next_tenth * total) {
    printf("  %s\n", message);
    ++*next_tenth;
  }
  return 0;
}

static int check(qsim_status status, const char* what, const qsim_session* session) {
  if (status == QSIM_OK) return 1;
  /* A session's message names what failed; calls without a session leave it per thread. */
  fprintf(stderr, "%s failed: %s: %s\n", what, qsim_status_name(status),
          session != NULL ? qsim_session_last_error(session) : qsim_last_error());
  return 0;
}

/* Prints the first weight encoding: what runtimes read from the exported files. */
static int print_first_weight(qsim_session* session) {
  size_t count = 0, i;
  if (!check(qsim_encoding_count(session, &count), "qsim_encoding_count", session)) return 0;
  printf("%zu encodings\n", count);
  for (i = 0; i < count; ++i) {
    qsim_encoding_info info;
    float* scales;
    int32_t* offsets;
    int ok;
    info.struct_size = sizeof info;
    if (!check(qsim_get_encoding(session, i, &info), "qsim_get_encoding", session)) return 0;
    if (info.role != QSIM_ROLE_WEIGHT) continue;
    scales = malloc(info.num_channels * sizeof(float));
    offsets = malloc(info.num_channels * sizeof(int32_t));
    ok = scales != NULL && offsets != NULL &&
         check(qsim_get_encoding_channels(session, i, scales, offsets, info.num_channels),
               "qsim_get_encoding_channels", session);
    if (ok)
      printf("weight '%s': %d bits, %zu channel(s), channel 0: scale %g offset %d\n", info.name,
             info.bitwidth, info.num_channels, scales[0], offsets[0]);
    free(scales);
    free(offsets);
    return ok;
  }
  fprintf(stderr, "no weight encoding found\n");
  return 0;
}

/* Runs a batch in `mode` and prints the first output's first values. */
static int run_batch(qsim_session* session, qsim_tensor input, qsim_run_mode mode) {
  qsim_tensor output;
  float* values;
  size_t i, shown;
  int ok;
  memset(&output, 0, sizeof output);
  if (!check(qsim_infer_shapes(session, &input, 1, &output, 1), "qsim_infer_shapes", session))
    return 0;
  values = malloc(output.size_bytes + 1);
  if (values == NULL) return 0;
  output.data = values;
  ok = check(qsim_run(session, mode, &input, 1, &output, 1), "qsim_run", session);
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
  qsim_session* session = NULL;
  qsim_data_source* source = NULL;
  qsim_adaround_options adaround;
  int64_t samples = 0, next_tenth = 0;
  char* notes = NULL;
  qsim_tensor batch;
  int ok;
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODEL.onnx CALIB.npy OUT_DIR\n", argv[0]);
    return 2;
  }
  if (!check(qsim_data_source_from_npy((const char* const*)&argv[2], 1, BATCH, &source),
             "qsim_data_source_from_npy", NULL) ||
      !check(qsim_data_source_samples(source, &samples), "qsim_data_source_samples", NULL) ||
      !check(qsim_create(argv[1], NULL, &session), "qsim_create", NULL)) {
    qsim_data_source_destroy(source);
    return 1;
  }
  printf("qsim %s: %lld calibration samples\n", qsim_version(), (long long)samples);
  qsim_adaround_options_init(&adaround, sizeof adaround);
  adaround.num_iterations = 100;
  adaround.num_samples = 128;
  /* Every call starts the source from its first sample: one source serves both. */
  ok = check(qsim_calibrate(session, qsim_data_source_read, source, show_progress, &next_tenth),
             "qsim_calibrate", session) &&
       check(qsim_adaround(session, qsim_data_source_read, source, &adaround, show_progress,
                           &next_tenth),
             "qsim_adaround", session) &&
       check(qsim_export(session, argv[3], NULL), "qsim_export", session) &&
       check(qsim_get_notes(session, &notes), "qsim_get_notes", session) &&
       print_first_weight(session);
  /* The library's reader hands out batches to anyone, not only to qsim's calls: the next one
     after AdaRound's samples, run float and quantized. */
  memset(&batch, 0, sizeof batch);
  ok = ok && qsim_data_source_read(source, &batch, 1) == 1 &&
       run_batch(session, batch, QSIM_RUN_FLOAT) && run_batch(session, batch, QSIM_RUN_QUANTIZED);
  if (ok) {
    printf("%.*s\n", (int)strcspn(notes, "\n"), notes);
    printf("exported into %s\n", argv[3]);
  }
  qsim_free(notes);
  qsim_destroy(session);
  qsim_data_source_destroy(source);
  return ok ? 0 : 1;
}
