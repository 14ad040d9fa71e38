/* Options, configuration and argument checks of the quantization calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "capi_tests.h"

#define RESNET "resnet_fmnist.onnx"

/* qsim_create with `options` on the ResNet must fail with `expected`, naming `field`. */
static void expect_rejected(const qsim_options* options, qsim_status expected, const char* field) {
  qsim_session* session = (qsim_session*)0x1;
  assert_int_equal(qsim_create(model_path(RESNET), options, &session), expected);
  assert_null(session);
  assert_error_mentions(field);
}

static void test_bad_bit_widths(void** state) {
  (void)state;
  const int32_t bad[] = {0, 1, 17, -8};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    qsim_options options = test_options();
    options.weight_bits = bad[i];
    expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "weight_bits");
    options = test_options();
    options.activation_bits = bad[i];
    expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "activation_bits");
  }
  /* The bounds themselves are fine. */
  qsim_options options = test_options();
  options.weight_bits = 2;
  options.activation_bits = 16;
  qsim_destroy(open_model(RESNET, &options));
}

static void test_bad_enum_values(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.activation_calibration = (qsim_calibration_method)42;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "activation_calibration");
  options = test_options();
  options.weight_calibration = (qsim_calibration_method)-1;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "weight_calibration");
  options = test_options();
  options.nan_policy = (qsim_nan_policy)7;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "nan_policy");
  options = test_options();
  options.emulate = (qsim_target)2;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "emulate");
  options = test_options();
  options.percentile = 0.0;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "percentile");
  options.percentile = 100.5;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "percentile");
}

static void test_struct_size(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.struct_size = 0;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "qsim_options_init");
  assert_int_equal(qsim_options_init(&options, 0), QSIM_ERR_INVALID_ARGUMENT);
  /* An old caller's struct ending before the calibration fields: they keep their defaults,
     whatever lies beyond the caller's struct. */
  options = test_options();
  options.struct_size = (uint32_t)offsetof(qsim_options, seed);
  options.activation_calibration = (qsim_calibration_method)42;
  qsim_destroy(open_model(RESNET, &options));
  /* qsim_options_init writes no further than the caller's size. */
  unsigned char bytes[sizeof(qsim_options) + 8];
  memset(bytes, 0xAB, sizeof bytes);
  assert_int_equal(
      qsim_options_init((qsim_options*)(void*)bytes, (uint32_t)offsetof(qsim_options, seed)),
      QSIM_OK);
  assert_int_equal(bytes[offsetof(qsim_options, seed)], 0xAB);
  qsim_options written;
  memcpy(&written, bytes, offsetof(qsim_options, seed));
  assert_int_equal(written.struct_size, offsetof(qsim_options, seed));
  assert_int_equal(written.weight_bits, 8);
}

static void test_target_names(void** state) {
  (void)state;
  qsim_target target = (qsim_target)99;
  assert_int_equal(qsim_target_from_name("exact", &target), QSIM_OK);
  assert_int_equal(target, QSIM_TARGET_EXACT);
  assert_int_equal(qsim_target_from_name("ort-avx2", &target), QSIM_OK);
  assert_int_equal(target, QSIM_TARGET_ORT_AVX2);
  assert_int_equal(qsim_target_from_name("avx2", &target), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("exact, ort-avx2");
  assert_int_equal(qsim_target_from_name(NULL, &target), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_target_from_name("exact", NULL), QSIM_ERR_INVALID_ARGUMENT);
}

/* qsim_options.emulate: an old caller's struct without it runs exact sums; ORT_AVX2 changes
   some logits of the per-channel ResNet, whose notes name the layers that can saturate. */
static void test_emulate(void** state) {
  (void)state;
  static float logits[3][EVAL_IMAGES * 10];
  const qsim_target targets[3] = {QSIM_TARGET_EXACT, (qsim_target)42, QSIM_TARGET_ORT_AVX2};
  for (int i = 0; i < 3; ++i) {
    qsim_options options = test_options();
    options.per_channel = 1;
    options.emulate = targets[i];
    if (i == 1) options.struct_size = (uint32_t)offsetof(qsim_options, emulate);
    qsim_session* session = open_model(RESNET, &options);
    calibrate_default(session);
    assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, logits[i]),
                     QSIM_OK);
    char* notes = NULL;
    assert_int_equal(qsim_get_notes(session, &notes), QSIM_OK);
    assert_non_null(strstr(notes, "u8 x s8 pair sums can reach "));
    qsim_free(notes);
    qsim_destroy(session);
  }
  assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
  assert_memory_not_equal(logits[0], logits[2], sizeof logits[0]);
}

static void test_config_both_given(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.config_json = "{}";
  options.config_path = "/nonexistent/config.json";
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "config_json");
}

static void test_config_errors(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.config_json = "{\"defaults\": {\"ops\": {}, \"params\": {}, \"bogus_key\": \"True\"}}";
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "bogus_key");
  options.config_json = "{\"defaults\": ";
  expect_rejected(&options, QSIM_ERR_PARSE, "config_json");
  options.config_json = NULL;
  options.config_path = "/nonexistent/quantsim_config.json";
  expect_rejected(&options, QSIM_ERR_IO, "/nonexistent/quantsim_config.json");
}

/* A config naming an op the model lacks loads, and the notes say so. */
static void test_config_unused_op_type(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.config_json =
      "{\"defaults\": {\"ops\": {\"is_output_quantized\": \"True\"}, \"params\": "
      "{\"is_quantized\": "
      "\"True\", \"is_symmetric\": \"True\"}, \"per_channel_quantization\": \"True\"},"
      " \"params\": {}, \"op_type\": {\"LSTM\": {\"is_output_quantized\": \"False\"}},"
      " \"supergroups\": [], \"model_input\": {\"is_input_quantized\": \"True\"},"
      " \"model_output\": {}}";
  qsim_session* session = open_model(RESNET, &options);
  char* notes = NULL;
  assert_int_equal(qsim_get_notes(session, &notes), QSIM_OK);
  assert_non_null(strstr(notes, "LSTM"));
  qsim_free(notes);
  /* The config's per-channel default reaches the weights: one scale per output channel. */
  calibrate_default(session);
  size_t count = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  int per_channel_weights = 0;
  for (size_t i = 0; i < count; ++i) {
    const qsim_encoding_info info = encoding_info(session, i);
    if (info.role == QSIM_ROLE_WEIGHT && info.axis == 0 && info.num_channels > 1)
      per_channel_weights++;
  }
  assert_int_equal(per_channel_weights, 10); /* 9 Conv + 1 Gemm */
  qsim_destroy(session);
}

static void test_method_names(void** state) {
  (void)state;
  const char* names[] = {"minmax", "tf_enhanced", "percentile", "entropy", "mse", "pow2"};
  const qsim_calibration_method methods[] = {QSIM_CALIB_MINMAX,     QSIM_CALIB_TF_ENHANCED,
                                             QSIM_CALIB_PERCENTILE, QSIM_CALIB_ENTROPY,
                                             QSIM_CALIB_MSE,        QSIM_CALIB_POW2};
  for (size_t i = 0; i < 6; ++i) {
    qsim_calibration_method m = (qsim_calibration_method)99;
    assert_int_equal(qsim_calibration_method_from_name(names[i], &m), QSIM_OK);
    assert_int_equal(m, methods[i]);
  }
  qsim_calibration_method m;
  assert_int_equal(qsim_calibration_method_from_name("kmeans", &m), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("tf_enhanced");
  assert_int_equal(qsim_calibration_method_from_name(NULL, &m), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_calibration_method_from_name("mse", NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_string_equal(qsim_status_name(QSIM_ERR_CANCELLED), "QSIM_ERR_CANCELLED");
  assert_string_equal(qsim_status_name(QSIM_ERR_NUMERIC), "QSIM_ERR_NUMERIC");
  assert_string_equal(qsim_status_name(QSIM_ERR_STATE), "QSIM_ERR_STATE");
  assert_string_equal(qsim_status_name((qsim_status)99), "QSIM_ERR_UNKNOWN");
}

/* Every method calibrates the ResNet and gives a usable simulation. */
static void test_every_method(void** state) {
  (void)state;
  for (int method = QSIM_CALIB_MINMAX; method <= QSIM_CALIB_POW2; ++method) {
    qsim_options options = test_options();
    options.activation_calibration = (qsim_calibration_method)method;
    options.weight_calibration = (qsim_calibration_method)method;
    qsim_session* session = open_model(RESNET, &options);
    calibrate_default(session);
    float logits[EVAL_IMAGES * 10];
    assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, logits),
                     QSIM_OK);
    for (size_t i = 0; i < EVAL_IMAGES * 10; ++i) assert_true(logits[i] == logits[i]); /* no NaN */
    qsim_destroy(session);
  }
}

/* Every quantization call rejects NULL handles and pointers, naming the parameter. */
static void test_null_arguments(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  size_t count;
  qsim_encoding_info info;
  info.struct_size = sizeof info;
  float scale;
  int32_t offset;
  char* text = NULL;
  qsim_export_options export_options;
  assert_int_equal(qsim_export_options_init(&export_options, sizeof(qsim_export_options)), QSIM_OK);
  qsim_tensor tensor;
  memset(&tensor, 0, sizeof tensor);

  assert_int_equal(qsim_calibrate(NULL, read_source, &source, NULL, NULL),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("session");
  assert_int_equal(qsim_calibrate(session, NULL, &source, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("reader");
  assert_int_equal(qsim_load_encodings(NULL, "x.json"), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_load_encodings(session, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("path");
  assert_int_equal(qsim_encoding_count(NULL, &count), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_encoding_count(session, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_get_encoding(NULL, 0, &info), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_get_encoding(session, 0, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("out_info");
  assert_int_equal(qsim_get_encoding_channels(NULL, 0, &scale, &offset, 1),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_get_encoding_channels(session, 0, NULL, &offset, 1),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("scales");
  assert_int_equal(qsim_get_encoding_channels(session, 0, &scale, NULL, 1),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("offsets");
  assert_int_equal(qsim_get_notes(NULL, &text), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_get_notes(session, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_export_options_init(NULL, sizeof export_options),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_export(NULL, "/tmp", &export_options), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_export(session, NULL, &export_options), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("out_dir");
  assert_int_equal(qsim_io_info(NULL, QSIM_INPUT, 0, &tensor), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_io_info(session, QSIM_INPUT, 0, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_io_count(session, QSIM_INPUT, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_infer_shapes(NULL, &tensor, 1, &tensor, 1), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_infer_shapes(session, &tensor, 1, NULL, 1), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_run(session, QSIM_RUN_FLOAT, NULL, 1, &tensor, 1),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_run(session, (qsim_run_mode)5, &tensor, 1, &tensor, 1),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_describe_model(model_path(RESNET), QSIM_FORMAT_TEXT, NULL),
                   QSIM_ERR_INVALID_ARGUMENT);
  qsim_free(NULL); /* allowed */
  /* None of this touched the session. */
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  assert_int_equal(count, 0);
  qsim_destroy(session);
}

/* Path of a hostile input in tests/data/hostile/ (static storage). */
static const char* hostile_path(const char* file) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/tests/data/hostile/%s", QSIM_SOURCE_DIR, file);
  return path;
}

/* Reads a small file whole into `buffer`; returns its size. */
static size_t read_small_file(const char* path, char* buffer, size_t capacity) {
  FILE* f = fopen(path, "rb");
  assert_non_null(f);
  size_t size = fread(buffer, 1, capacity, f);
  fclose(f);
  assert_true(size > 0 && size < capacity);
  return size;
}

/* qsim_options.max_tensor_bytes: default 2^31, 1..2^40, an old caller's struct without it
   keeps the default; a node asking for more is QSIM_ERR_OUT_OF_MEMORY naming it. */
static void test_max_tensor_bytes(void** state) {
  (void)state;
  qsim_options options = test_options();
  assert_true(options.max_tensor_bytes == (uint64_t)1 << 31);
  options.max_tensor_bytes = 0;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "max_tensor_bytes");
  options.max_tensor_bytes = ((uint64_t)1 << 40) + 1;
  expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "max_tensor_bytes");
  options.struct_size = (uint32_t)offsetof(qsim_options, max_tensor_bytes);
  qsim_destroy(open_model(RESNET, &options));

  /* ConstantOfShape [32768, 32768] (4 GiB) in a 70-byte model. */
  qsim_session* session = NULL;
  options = test_options();
  assert_int_equal(qsim_create(hostile_path("constant_of_shape.onnx"), &options, &session),
                   QSIM_OK);
  qsim_tensor output;
  memset(&output, 0, sizeof output);
  assert_int_equal(qsim_infer_shapes(session, NULL, 0, &output, 1), QSIM_ERR_OUT_OF_MEMORY);
  assert_error_mentions("ConstantOfShape 'fill'");
  assert_error_mentions("4294967296 bytes");
  assert_int_equal(qsim_run(session, QSIM_RUN_FLOAT, NULL, 0, &output, 1), QSIM_ERR_OUT_OF_MEMORY);
  qsim_destroy(session);
}

/* The session's AIMET JSON 1.0.0 export, as text (valid until the next call). */
static const char* exported_v1_json(qsim_session* session) {
  static char text[1 << 16];
  char* dir = make_temp_dir();
  qsim_export_options export_options;
  qsim_export_options_init(&export_options, sizeof(qsim_export_options));
  export_options.formats = QSIM_EXPORT_AIMET_JSON_1_0_0;
  assert_int_equal(qsim_export(session, dir, &export_options), QSIM_OK);
  const size_t size =
      read_small_file(join_path(dir, "model.encodings.v1.json"), text, sizeof text - 1);
  text[size] = 0;
  remove_temp_dir(dir);
  return text;
}

/* Cross-layer equalization (issue 22): off by default; cle_steps -1 or 1..100; an old
   caller's struct without the fields keeps the defaults; on, every export records it. */
static void test_cross_layer_equalization(void** state) {
  (void)state;
  qsim_options options = test_options();
  assert_int_equal(options.cross_layer_equalization, 0);
  assert_int_equal(options.cle_steps, -1);
  assert_int_equal(options.cle_replace_relu6, 1);
  assert_int_equal(options.cle_high_bias_absorption, 1);
  assert_int_equal(options.cle_include_bias, 0);
  options.cross_layer_equalization = 1;
  const int32_t bad_steps[] = {0, -2, 101};
  for (size_t i = 0; i < 3; ++i) {
    options.cle_steps = bad_steps[i];
    expect_rejected(&options, QSIM_ERR_INVALID_ARGUMENT, "cle_steps");
  }
  options.cle_steps = -1;
  options.struct_size = (uint32_t)offsetof(qsim_options, cross_layer_equalization);
  qsim_destroy(open_model(RESNET, &options));

  options = test_options();
  options.cross_layer_equalization = 1;
  qsim_session* session = open_model(RESNET, &options);
  calibrate_default(session);
  const char* text = exported_v1_json(session);
  assert_non_null(strstr(text, "\"name\": \"bn_fold\""));
  assert_non_null(strstr(text, "\"name\": \"cle\""));
  assert_true(strstr(text, "\"name\": \"bn_fold\"") < strstr(text, "\"name\": \"cle\""));
  qsim_destroy(session);
}

/* SmoothQuant's progress: samples measured of the total; cancels at done == cancel_at. */
typedef struct samples_log {
  int calls;
  int64_t last_done, last_total, cancel_at;
} samples_log;

static int record_samples(void* user, int64_t done, int64_t total, const char* message) {
  samples_log* log = user;
  assert_non_null(message);
  assert_true(done > log->last_done);
  log->calls++;
  log->last_done = done;
  log->last_total = total;
  return log->cancel_at > 0 && done == log->cancel_at;
}

/* qsim_smooth_quant: before calibration only, once; alpha in [0, 1]; recorded in the exports;
   the float outputs stay. */
static void test_smooth_quant(void** state) {
  (void)state;
  qsim_smooth_quant_options options;
  assert_int_equal(qsim_smooth_quant_options_init(&options, sizeof(qsim_smooth_quant_options)), QSIM_OK);
  assert_true(options.alpha == 0.5);
  assert_int_equal(options.num_samples, 512);
  qsim_session* session = open_model(RESNET, NULL);
  batch_source source = make_source(calib_images(), 64, 32);
  options.alpha = 1.5;
  assert_int_equal(qsim_smooth_quant(session, read_source, &source, &options, NULL, NULL),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("alpha");
  assert_int_equal(qsim_smooth_quant(NULL, read_source, &source, &options, NULL, NULL),
                   QSIM_ERR_INVALID_ARGUMENT);
  options.alpha = 0.5;
  /* Progress after each batch, in samples; cancelling leaves the session without the
     transform. */
  options.num_samples = 64;
  samples_log log = {0, 0, 0, 32};
  source = make_source(calib_images(), 64, 32);
  assert_int_equal(qsim_smooth_quant(session, read_source, &source, &options, record_samples, &log),
                   QSIM_ERR_CANCELLED);
  assert_int_equal(log.calls, 1);
  log = (samples_log){0, 0, 0, 0};
  source = make_source(calib_images(), 64, 32);
  assert_int_equal(qsim_smooth_quant(session, read_source, &source, &options, record_samples, &log),
                   QSIM_OK);
  assert_int_equal(log.calls, 2);
  assert_int_equal(log.last_done, 64);
  assert_int_equal(log.last_total, 64);
  source = make_source(calib_images(), 64, 32);
  assert_int_equal(qsim_smooth_quant(session, read_source, &source, &options, NULL, NULL),
                   QSIM_ERR_STATE);
  calibrate_default(session);
  assert_non_null(strstr(exported_v1_json(session), "\"name\": \"smooth_quant\""));
  qsim_destroy(session);

  session = open_model(RESNET, NULL);
  calibrate_default(session);
  source = make_source(calib_images(), 64, 32);
  assert_int_equal(qsim_smooth_quant(session, read_source, &source, &options, NULL, NULL),
                   QSIM_ERR_STATE);
  assert_error_mentions("before qsim_calibrate");
  qsim_destroy(session);
}

/* The hostile models of issue 21 through the C API: a status and a message naming the culprit,
   never a crash. */
static void test_hostile_models(void** state) {
  (void)state;
  qsim_options options = test_options();
  qsim_session* session = NULL;
  assert_int_equal(qsim_create(hostile_path("zero_outputs.onnx"), &options, &session),
                   QSIM_ERR_PARSE);
  assert_error_mentions("Add 'adder'");

  /* Window attributes are checked when the kernels are made. */
  assert_int_equal(qsim_create(hostile_path("conv_huge_pads.onnx"), &options, &session),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("Conv 'conv0': attribute 'pads'");

  /* Shapes when a plan is made. */
  const char* plan_failures[] = {"conv_empty_weight.onnx", "reshape_overflow.onnx"};
  const char* plan_names[] = {"Conv 'conv0'", "Reshape 'reshape0'"};
  for (size_t i = 0; i < 2; ++i) {
    float x[32] = {0};
    qsim_tensor input;
    memset(&input, 0, sizeof input);
    input.dtype = QSIM_DTYPE_FLOAT32;
    input.rank = i == 1 ? 2 : 4;
    const int64_t shapes[2][4] = {{1, 2, 4, 4}, {2, 3, 0, 0}};
    size_t count = 1;
    for (int d = 0; d < input.rank; ++d) count *= (size_t)(input.shape[d] = shapes[i][d]);
    input.data = x;
    input.size_bytes = count * sizeof(float);
    qsim_tensor output;
    memset(&output, 0, sizeof output);
    assert_int_equal(qsim_create(hostile_path(plan_failures[i]), &options, &session), QSIM_OK);
    assert_int_equal(qsim_infer_shapes(session, &input, 1, &output, 1), QSIM_ERR_SHAPE);
    assert_error_mentions(plan_names[i]);
    qsim_destroy(session);
  }

  /* External data: never from memory, only within the model's folder, sizes checked. */
  char bytes[1024];
  size_t size = read_small_file(hostile_path("external_missing.onnx"), bytes, sizeof bytes);
  assert_int_equal(qsim_create_from_memory(bytes, size, &options, &session),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_null(session);
  assert_error_mentions("tensor 'W'");
  assert_int_equal(qsim_create(hostile_path("external_missing.onnx"), &options, &session),
                   QSIM_ERR_IO);
  assert_error_mentions("missing.bin");
  assert_int_equal(qsim_create(hostile_path("external_long.onnx"), &options, &session),
                   QSIM_ERR_PARSE);
  assert_error_mentions("holds 16 bytes");
  assert_int_equal(qsim_create(hostile_path("external_offset_abc.onnx"), &options, &session),
                   QSIM_ERR_PARSE);
  assert_error_mentions("external_data offset 'abc'");
  assert_int_equal(qsim_create(hostile_path("external_escape.onnx"), &options, &session),
                   QSIM_ERR_PARSE);
  assert_error_mentions("leaves the model's folder");
}

int run_option_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_bit_widths), cmocka_unit_test(test_bad_enum_values),
      cmocka_unit_test(test_struct_size),    cmocka_unit_test(test_config_both_given),
      cmocka_unit_test(test_config_errors),  cmocka_unit_test(test_config_unused_op_type),
      cmocka_unit_test(test_method_names),   cmocka_unit_test(test_every_method),
      cmocka_unit_test(test_null_arguments), cmocka_unit_test(test_target_names),
      cmocka_unit_test(test_emulate),        cmocka_unit_test(test_max_tensor_bytes),
      cmocka_unit_test(test_hostile_models), cmocka_unit_test(test_cross_layer_equalization),
      cmocka_unit_test(test_smooth_quant),
  };
  return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
