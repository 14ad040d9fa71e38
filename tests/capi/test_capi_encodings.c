/* The encoding getters and qsim_load_encodings: export then load reproduces every encoding
   exactly, for every file format; bad files change nothing. */
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
#define MOBILENET "mobilenet_fmnist.onnx"
#define MAX_CHANNELS 512

static void test_getter_errors(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  calibrate_default(session);
  size_t count = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  qsim_encoding_info info;
  info.struct_size = sizeof info;
  assert_int_equal(qsim_get_encoding(session, count, &info), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("out of range");
  info.struct_size = 0;
  assert_int_equal(qsim_get_encoding(session, 0, &info), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("struct_size");

  /* An older caller's struct without excluded_values: nothing written beyond it. */
  unsigned char bytes[sizeof(qsim_encoding_info)];
  memset(bytes, 0xCD, sizeof bytes);
  qsim_encoding_info* old = (qsim_encoding_info*)(void*)bytes;
  old->struct_size = (uint32_t)offsetof(qsim_encoding_info, excluded_values);
  assert_int_equal(qsim_get_encoding(session, 0, old), QSIM_OK);
  assert_string_equal(old->name, "input");
  assert_int_equal(bytes[offsetof(qsim_encoding_info, excluded_values)], 0xCD);

  /* The first weight: per tensor by default, and its channel buffer must be big enough. */
  size_t weight = count;
  for (size_t i = 0; i < count && weight == count; ++i) {
    info = encoding_info(session, i);
    if (info.role == QSIM_ROLE_WEIGHT) weight = i;
  }
  assert_true(weight < count);
  assert_int_equal(info.axis, -1);
  assert_int_equal(info.num_channels, 1);
  assert_int_equal(info.symmetry, QSIM_SYMMETRIC);
  float scale;
  int32_t offset;
  assert_int_equal(qsim_get_encoding_channels(session, weight, &scale, &offset, 0),
                   QSIM_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(qsim_get_encoding_channels(session, weight, &scale, &offset, 1), QSIM_OK);
  assert_int_equal(offset, -128);
  assert_int_equal(qsim_get_encoding_channels(session, count, &scale, &offset, 1),
                   QSIM_ERR_INVALID_ARGUMENT);
  qsim_destroy(session);
}

/* Every encoding of `a` equals `b`'s, field by field and bit by bit. */
static void assert_same_encodings(qsim_session* a, qsim_session* b) {
  size_t count_a = 0, count_b = 0;
  assert_int_equal(qsim_encoding_count(a, &count_a), QSIM_OK);
  assert_int_equal(qsim_encoding_count(b, &count_b), QSIM_OK);
  assert_int_equal(count_a, count_b);
  static float scales_a[MAX_CHANNELS], scales_b[MAX_CHANNELS];
  static int32_t offsets_a[MAX_CHANNELS], offsets_b[MAX_CHANNELS];
  for (size_t i = 0; i < count_a; ++i) {
    const qsim_encoding_info x = encoding_info(a, i), y = encoding_info(b, i);
    assert_string_equal(x.name, y.name);
    assert_int_equal(x.role, y.role);
    assert_int_equal(x.quantized, y.quantized);
    assert_int_equal(x.bitwidth, y.bitwidth);
    assert_int_equal(x.symmetry, y.symmetry);
    assert_int_equal(x.axis, y.axis);
    assert_int_equal(x.num_channels, y.num_channels);
    assert_int_equal(qsim_get_encoding_channels(a, i, scales_a, offsets_a, MAX_CHANNELS), QSIM_OK);
    assert_int_equal(qsim_get_encoding_channels(b, i, scales_b, offsets_b, MAX_CHANNELS), QSIM_OK);
    assert_memory_equal(scales_a, scales_b, x.num_channels * sizeof(float));
    assert_memory_equal(offsets_a, offsets_b, x.num_channels * sizeof(int32_t));
  }
}

/* Export, then load each encodings file into a fresh session: the same encodings and the
   very same simulated outputs. Per-channel weights and int32 biases on the MobileNet (Clip,
   depthwise convolutions, residual Adds) via the config. */
static void round_trip(const char* model, const qsim_options* options) {
  qsim_session* source = open_model(model, options);
  calibrate_default(source);
  char* dir = make_temp_dir();
  assert_int_equal(qsim_export(source, dir, NULL), QSIM_OK);
  static float expected[EVAL_IMAGES * 10], got[EVAL_IMAGES * 10];
  assert_int_equal(run_logits(source, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, expected),
                   QSIM_OK);
  const char* files[] = {"model.encodings.fbs", "model.encodings.json", "model.encodings.v1.json"};
  for (size_t f = 0; f < 3; ++f) {
    qsim_session* loaded = open_model(model, options);
    if (qsim_load_encodings(loaded, join_path(dir, files[f])) != QSIM_OK)
      fail_msg("loading %s: %s", files[f], qsim_last_error());
    assert_same_encodings(source, loaded);
    assert_int_equal(run_logits(loaded, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, got),
                     QSIM_OK);
    assert_memory_equal(expected, got, sizeof got);
    qsim_destroy(loaded);
  }
  remove_temp_dir(dir);
  qsim_destroy(source);
}

static void test_round_trip_resnet(void** state) {
  (void)state;
  round_trip(RESNET, NULL);
}

static void test_round_trip_mobilenet_per_channel_int32_bias(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.per_channel = 1;
  options.activation_calibration = QSIM_CALIB_MSE;
  options.config_json =
      "{\"defaults\": {\"ops\": {\"is_output_quantized\": \"True\"}, \"params\": "
      "{\"is_quantized\": "
      "\"True\", \"is_symmetric\": \"True\"}, \"strict_symmetric\": \"True\"},"
      " \"params\": {\"bias\": {\"is_quantized\": \"True\"}}, \"op_type\": {},"
      " \"supergroups\": [{\"op_list\": [\"Conv\", \"Clip\"]}],"
      " \"model_input\": {\"is_input_quantized\": \"True\"}, \"model_output\": {}}";
  round_trip(MOBILENET, &options);
  /* The config did reach the session: int32 biases, strict-symmetric weights. */
  qsim_session* session = open_model(MOBILENET, &options);
  calibrate_default(session);
  size_t count = 0, biases = 0, strict = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  for (size_t i = 0; i < count; ++i) {
    const qsim_encoding_info info = encoding_info(session, i);
    biases += info.role == QSIM_ROLE_BIAS && info.bitwidth == 32;
    strict += info.role == QSIM_ROLE_WEIGHT && info.symmetry == QSIM_STRICT_SYMMETRIC;
  }
  assert_true(biases > 0);
  assert_true(strict > 0);
  qsim_destroy(session);
}

static void write_text(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Bad files fail with the file and the tensor named, and leave the session as it was. */
static void test_load_errors(void** state) {
  (void)state;
  char* dir = make_temp_dir();
  qsim_session* session = open_model(RESNET, NULL);
  assert_int_equal(qsim_load_encodings(session, join_path(dir, "missing.json")), QSIM_ERR_IO);
  assert_error_mentions("missing.json");
  write_text(join_path(dir, "garbage.json"),
             "{\"version\": \"0.6.1\", \"activation_encodings\": [");
  assert_int_equal(qsim_load_encodings(session, join_path(dir, "garbage.json")), QSIM_ERR_PARSE);
  assert_error_mentions("garbage.json");
  write_text(join_path(dir, "fake.fbs"), "\x10\0\0\0QSENgarbage that is no flatbuffer");
  assert_int_equal(qsim_load_encodings(session, join_path(dir, "fake.fbs")), QSIM_ERR_PARSE);
  write_text(
      join_path(dir, "unknown.json"),
      "{\"version\": \"0.6.1\", \"activation_encodings\": {\"no_such_tensor\": [{\"bitwidth\": 8,"
      " \"dtype\": \"int\", \"is_symmetric\": \"False\", \"max\": 1.0, \"min\": 0.0, \"offset\": 0,"
      " \"scale\": 0.00392156886}]}, \"param_encodings\": {}}");
  assert_int_equal(qsim_load_encodings(session, join_path(dir, "unknown.json")),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("no_such_tensor");
  size_t count = 1;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  assert_int_equal(count, 0);
  qsim_destroy(session);
  remove_temp_dir(dir);
}

/* A file with only the input's encoding: frozen, the rest still needs calibration, which
   keeps the loaded encoding whatever the data says. */
static void test_partial_load_then_calibrate(void** state) {
  (void)state;
  char* dir = make_temp_dir();
  write_text(join_path(dir, "input.json"),
             "{\"version\": \"0.6.1\", \"activation_encodings\": {\"input\": [{\"bitwidth\": 8,"
             " \"dtype\": \"int\", \"is_symmetric\": \"False\", \"max\": 2.04, \"min\": -0.51,"
             " \"offset\": -51, \"scale\": 0.01}]}, \"param_encodings\": {}}");
  qsim_session* session = open_model(RESNET, NULL);
  assert_int_equal(qsim_load_encodings(session, join_path(dir, "input.json")), QSIM_OK);
  float logits[10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), 1, logits),
                   QSIM_ERR_STATE);
  assert_int_equal(qsim_export(session, join_path(dir, "out"), NULL), QSIM_ERR_STATE);
  assert_int_equal(count_entries(join_path(dir, "out")), -1);
  calibrate_default(session);
  float scale;
  int32_t offset;
  assert_int_equal(qsim_get_encoding_channels(session, 0, &scale, &offset, 1), QSIM_OK);
  assert_true(scale == 0.01f);
  assert_int_equal(offset, -51);
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), 1, logits), QSIM_OK);
  qsim_destroy(session);
  remove_temp_dir(dir);
}

int run_encodings_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_getter_errors),
      cmocka_unit_test(test_round_trip_resnet),
      cmocka_unit_test(test_round_trip_mobilenet_per_channel_int32_bias),
      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_partial_load_then_calibrate),
  };
  return cmocka_run_group_tests_name("encodings", tests, NULL, NULL);
}
