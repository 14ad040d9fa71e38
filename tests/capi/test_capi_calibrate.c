/* qsim_calibrate and quantized runs: call order, readers that fail, cancellation, NaN/Inf
   and zero ranges. Every failure must leave the session as it was. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "capi_tests.h"

#define RESNET "resnet_fmnist.onnx"

/* Scale of every encoding's first channel (0 for float ones); count returned. */
static size_t first_scales(qsim_session* session, float* scales, size_t capacity) {
  size_t count = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  assert_true(count <= capacity);
  for (size_t i = 0; i < count; ++i) {
    const qsim_encoding_info info = encoding_info(session, i);
    float channel_scales[256];
    int32_t offsets[256];
    assert_int_equal(qsim_get_encoding_channels(session, i, channel_scales, offsets, 256), QSIM_OK);
    scales[i] = info.num_channels > 0 ? channel_scales[0] : 0.0f;
  }
  return count;
}

static void assert_no_encodings(qsim_session* session) {
  size_t count = 1;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  assert_int_equal(count, 0);
  float logits[10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), 1, logits),
                   QSIM_ERR_STATE);
}

static int argmax10(const float* row) {
  int best = 0;
  for (int c = 1; c < 10; ++c)
    if (row[c] > row[best]) best = c;
  return best;
}

/* Of the EVAL_IMAGES rows of 10 logits, how many have the same top class in `a` and `b`. */
static int agreeing_rows(const float* a, const float* b) {
  int agree = 0;
  for (int i = 0; i < EVAL_IMAGES; ++i) agree += argmax10(a + 10 * i) == argmax10(b + 10 * i);
  return agree;
}

/* Before any calibration: getters, quantized runs and exports are QSIM_ERR_STATE. */
static void test_wrong_order(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  size_t count = 99;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  assert_int_equal(count, 0);
  qsim_encoding_info info;
  info.struct_size = sizeof info;
  assert_int_equal(qsim_get_encoding(session, 0, &info), QSIM_ERR_STATE);
  assert_error_mentions("calibrate");
  float scale;
  int32_t offset;
  assert_int_equal(qsim_get_encoding_channels(session, 0, &scale, &offset, 1), QSIM_ERR_STATE);
  float logits[10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), 1, logits),
                   QSIM_ERR_STATE);
  assert_error_mentions("calibrate");
  char* dir = make_temp_dir();
  const char* out = join_path(dir, "export");
  assert_int_equal(qsim_export(session, out, NULL), QSIM_ERR_STATE);
  assert_int_equal(count_entries(dir), 0); /* not even the folder */
  remove_temp_dir(dir);
  /* Float inference needs nothing. */
  assert_int_equal(run_logits(session, QSIM_RUN_FLOAT, eval_images(), 1, logits), QSIM_OK);
  qsim_destroy(session);
}

/* Calibration with progress, then the simulation: close to float, not equal to it, and the
   float run stays exactly the original model's. */
static void test_calibrate_and_run(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  static float before[EVAL_IMAGES * 10], after[EVAL_IMAGES * 10], quantized[EVAL_IMAGES * 10];
  assert_int_equal(run_logits(session, QSIM_RUN_FLOAT, eval_images(), EVAL_IMAGES, before),
                   QSIM_OK);

  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  progress_log log = {0, 0, 0, 0};
  assert_int_equal(qsim_calibrate(session, read_source, &source, record_progress, &log), QSIM_OK);
  assert_int_equal(log.calls, CALIB_IMAGES / CALIB_BATCH);
  assert_int_equal(log.last_total, -1);

  size_t count = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  assert_true(count > 20);
  const qsim_encoding_info first = encoding_info(session, 0);
  assert_string_equal(first.name, "input");
  assert_int_equal(first.role, QSIM_ROLE_MODEL_INPUT);
  assert_int_equal(first.bitwidth, 8);
  assert_int_equal(first.symmetry, QSIM_ASYMMETRIC);
  float scale;
  int32_t offset;
  assert_int_equal(qsim_get_encoding_channels(session, 0, &scale, &offset, 1), QSIM_OK);
  /* Pixels span [0, 1]: 255 steps of 1/255 starting at 0. */
  assert_int_equal(offset, 0);
  assert_true(fabsf(scale - 1.0f / 255.0f) < 1e-6f);

  assert_int_equal(run_logits(session, QSIM_RUN_FLOAT, eval_images(), EVAL_IMAGES, after), QSIM_OK);
  assert_memory_equal(before, after, sizeof before);
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, quantized),
                   QSIM_OK);
  assert_true(agreeing_rows(before, quantized) >= EVAL_IMAGES - 2);
  assert_memory_not_equal(before, quantized, sizeof before);
  qsim_destroy(session);
}

/* Cancelling from the progress callback changes nothing, and a later calibration works. */
static void test_cancel(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  progress_log log = {0, 0, 0, 2};
  assert_int_equal(qsim_calibrate(session, read_source, &source, record_progress, &log),
                   QSIM_ERR_CANCELLED);
  assert_error_mentions("cancelled");
  assert_int_equal(log.calls, 2);
  assert_int_equal(source.batches_given, 2); /* stopped right away */
  assert_no_encodings(session);

  calibrate_default(session);
  static float scales[512], scales_after[512];
  size_t count = first_scales(session, scales, 512);
  /* Cancelling a re-calibration on other data keeps the first calibration's encodings. */
  source = make_source(eval_images(), EVAL_IMAGES, 16);
  progress_log again = {0, 0, 0, 3};
  assert_int_equal(qsim_calibrate(session, read_source, &source, record_progress, &again),
                   QSIM_ERR_CANCELLED);
  assert_int_equal(first_scales(session, scales_after, 512), count);
  assert_memory_equal(scales, scales_after, count * sizeof(float));
  qsim_destroy(session);
}

/* A reader that fails, or gives data that does not fit, changes nothing. */
static void test_reader_faults(void** state) {
  (void)state;
  const struct {
    source_fault fault;
    qsim_status status;
    const char* mentions;
  } cases[] = {
      {SOURCE_ERROR, QSIM_ERR_CALLBACK, "data reader returned -1 for batch 2"},
      {SOURCE_BAD_SHAPE, QSIM_ERR_SHAPE, "27"},
      {SOURCE_BAD_DTYPE, QSIM_ERR_INVALID_ARGUMENT, "uint8"},
      {SOURCE_BAD_NAME, QSIM_ERR_INVALID_ARGUMENT, "nope"},
  };
  qsim_session* session = open_model(RESNET, NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
    source.fault = cases[i].fault;
    source.fault_batch = 2;
    assert_int_equal(qsim_calibrate(session, read_source, &source, NULL, NULL), cases[i].status);
    assert_error_mentions(cases[i].mentions);
    assert_no_encodings(session);
  }
  qsim_destroy(session);
}

static void test_zero_batches(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  batch_source source = make_source(calib_images(), 0, CALIB_BATCH);
  assert_int_equal(qsim_calibrate(session, read_source, &source, NULL, NULL),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("at least one batch");
  assert_no_encodings(session);
  qsim_destroy(session);
}

/* Calibration images with `count` NaN pixels in image 70 (the second batch) and an Inf. */
static float* images_with_nan(int count) {
  float* images = malloc(CALIB_IMAGES * FMNIST_PIXELS * sizeof(float));
  assert_non_null(images);
  memcpy(images, calib_images(), CALIB_IMAGES * FMNIST_PIXELS * sizeof(float));
  for (int i = 0; i < count - 1; ++i) images[70 * FMNIST_PIXELS + 300 + i] = NAN;
  images[70 * FMNIST_PIXELS + 10] = INFINITY;
  return images;
}

static void test_nan_rejected(void** state) {
  (void)state;
  float* images = images_with_nan(5);
  qsim_session* session = open_model(RESNET, NULL);
  batch_source source = make_source(images, CALIB_IMAGES, CALIB_BATCH);
  assert_int_equal(qsim_calibrate(session, read_source, &source, NULL, NULL), QSIM_ERR_NUMERIC);
  assert_error_mentions("'input'");
  assert_error_mentions("NaN");
  assert_no_encodings(session);
  qsim_destroy(session);
  free(images);
}

static void test_nan_excluded(void** state) {
  (void)state;
  float* images = images_with_nan(5);
  qsim_options options = test_options();
  options.nan_policy = QSIM_NAN_EXCLUDE;
  qsim_session* session = open_model(RESNET, &options);
  batch_source source = make_source(images, CALIB_IMAGES, CALIB_BATCH);
  assert_int_equal(qsim_calibrate(session, read_source, &source, NULL, NULL), QSIM_OK);
  size_t count = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  int64_t downstream = 0;
  for (size_t i = 0; i < count; ++i) {
    const qsim_encoding_info info = encoding_info(session, i);
    if (i == 0)
      assert_int_equal(info.excluded_values, 5); /* the input: exactly what was put in */
    else
      downstream += info.excluded_values;
    float scales[256];
    int32_t offsets[256];
    assert_int_equal(qsim_get_encoding_channels(session, i, scales, offsets, 256), QSIM_OK);
    for (size_t c = 0; c < info.num_channels; ++c)
      assert_true(isfinite(scales[c]) && scales[c] > 0);
  }
  assert_int_equal(downstream, 0); /* the sample holding them was left out whole */
  /* The clean data's range: the input encoding is the same as without the bad pixels. */
  float scale;
  int32_t offset;
  assert_int_equal(qsim_get_encoding_channels(session, 0, &scale, &offset, 1), QSIM_OK);
  assert_int_equal(offset, 0);
  assert_true(fabsf(scale - 1.0f / 255.0f) < 1e-6f);
  char* notes = NULL;
  assert_int_equal(qsim_get_notes(session, &notes), QSIM_OK);
  assert_non_null(strstr(notes, "tensor 'input' held 5 NaN/Inf"));
  assert_non_null(strstr(notes, "1 sample(s) with NaN/Inf in a model input were left out"));
  qsim_free(notes);
  /* Excluded means excluded: the simulation is as good as after a clean calibration. */
  static float logits[EVAL_IMAGES * 10], reference[EVAL_IMAGES * 10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, logits),
                   QSIM_OK);
  assert_int_equal(run_logits(session, QSIM_RUN_FLOAT, eval_images(), EVAL_IMAGES, reference),
                   QSIM_OK);
  assert_true(agreeing_rows(logits, reference) >= EVAL_IMAGES - 2);
  for (size_t i = 0; i < EVAL_IMAGES * 10; ++i) assert_true(isfinite(logits[i]));
  qsim_destroy(session);
  free(images);
}

/* All-zero calibration data: the input's range is zero, which still gives a valid grid. */
static void test_zero_range(void** state) {
  (void)state;
  static float zeros[CALIB_BATCH * FMNIST_PIXELS];
  qsim_session* session = open_model(RESNET, NULL);
  batch_source source = make_source(zeros, CALIB_BATCH, CALIB_BATCH);
  assert_int_equal(qsim_calibrate(session, read_source, &source, NULL, NULL), QSIM_OK);
  const qsim_encoding_info info = encoding_info(session, 0);
  assert_string_equal(info.name, "input");
  float scale;
  int32_t offset;
  assert_int_equal(qsim_get_encoding_channels(session, 0, &scale, &offset, 1), QSIM_OK);
  assert_true(isfinite(scale) && scale > 0);
  float quantized[10], reference[10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, zeros, 1, quantized), QSIM_OK);
  assert_int_equal(run_logits(session, QSIM_RUN_FLOAT, zeros, 1, reference), QSIM_OK);
  for (int c = 0; c < 10; ++c) assert_true(isfinite(quantized[c]));
  assert_int_equal(argmax10(quantized), argmax10(reference));
  qsim_destroy(session);
}

/* Quantized runs check their inputs and buffers as float runs do. */
static void test_quantized_run_errors(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  calibrate_default(session);
  float logits[20];
  qsim_tensor in, out;
  memset(&in, 0, sizeof in);
  memset(&out, 0, sizeof out);
  in.dtype = QSIM_DTYPE_FLOAT32;
  in.rank = 4;
  in.shape[0] = 2;
  in.shape[1] = 1;
  in.shape[2] = 28;
  in.shape[3] = 28;
  in.data = (void*)eval_images();
  in.size_bytes = 2 * FMNIST_PIXELS * sizeof(float);
  out.data = logits;
  out.size_bytes = 8;
  assert_int_equal(qsim_run(session, QSIM_RUN_QUANTIZED, &in, 1, &out, 1),
                   QSIM_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(out.size_bytes, sizeof logits);
  assert_int_equal(qsim_run(session, QSIM_RUN_QUANTIZED, &in, 1, &out, 1), QSIM_OK);
  assert_int_equal(out.rank, 2);
  assert_int_equal(out.shape[1], 10);
  in.shape[3] = 27;
  in.size_bytes = 2 * 28 * 27 * sizeof(float);
  assert_int_equal(qsim_run(session, QSIM_RUN_QUANTIZED, &in, 1, &out, 1), QSIM_ERR_SHAPE);
  assert_int_equal(qsim_run(session, QSIM_RUN_QUANTIZED, &in, 1, &out, 2),
                   QSIM_ERR_INVALID_ARGUMENT);
  qsim_destroy(session);
}

int run_calibrate_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrong_order),
      cmocka_unit_test(test_calibrate_and_run),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_reader_faults),
      cmocka_unit_test(test_zero_batches),
      cmocka_unit_test(test_nan_rejected),
      cmocka_unit_test(test_nan_excluded),
      cmocka_unit_test(test_zero_range),
      cmocka_unit_test(test_quantized_run_errors),
  };
  return cmocka_run_group_tests_name("calibrate", tests, NULL, NULL);
}
