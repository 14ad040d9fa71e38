/* qsim_adaround: options, call order, bad input, cancellation (the session stays as it was and
   usable), and results independent of the thread count. */
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

/* Few iterations and samples: these tests check behaviour, not accuracy. */
static qsim_adaround_options quick_options(void) {
  qsim_adaround_options options;
  assert_int_equal(qsim_adaround_options_init(&options, sizeof(qsim_adaround_options)), QSIM_OK);
  options.num_iterations = 6;
  options.adaquant_iterations = 6;
  options.num_samples = 64;
  return options;
}

static qsim_status run_adaround(qsim_session* session, const qsim_adaround_options* options,
                                size_t images, qsim_progress_fn progress, void* progress_data) {
  batch_source source = make_source(calib_images(), images, CALIB_BATCH);
  return qsim_adaround(session, read_source, &source, options, progress, progress_data);
}

/* Whether the session's AIMET JSON 0.6.1 export holds `text`. */
static int exported_json_mentions(qsim_session* session, const char* text) {
  char* dir = make_temp_dir();
  qsim_export_options export_options;
  assert_int_equal(qsim_export_options_init(&export_options, sizeof(qsim_export_options)), QSIM_OK);
  export_options.formats = QSIM_EXPORT_AIMET_JSON_0_6_1;
  assert_int_equal(qsim_export(session, dir, &export_options), QSIM_OK);
  FILE* json = fopen(join_path(dir, "model.encodings.json"), "r");
  assert_non_null(json);
  static char file[1 << 20];
  file[fread(file, 1, sizeof file - 1, json)] = '\0';
  fclose(json);
  remove_temp_dir(dir);
  return strstr(file, text) != NULL;
}

/* Progress: done never goes back, total stays the same; cancels once done reaches cancel_at. */
typedef struct iteration_log {
  int64_t last_done;
  int64_t total;
  int64_t cancel_at;
  int calls;
} iteration_log;

static int record_iterations(void* user, int64_t done, int64_t total, const char* message) {
  iteration_log* log = user;
  assert_non_null(message);
  assert_true(done >= log->last_done);
  assert_true(log->calls == 0 || total == log->total);
  log->calls++;
  log->last_done = done;
  log->total = total;
  return log->cancel_at > 0 && done >= log->cancel_at;
}

static void test_options_defaults(void** state) {
  (void)state;
  qsim_adaround_options options;
  assert_int_equal(qsim_adaround_options_init(&options, sizeof(qsim_adaround_options)), QSIM_OK);
  assert_int_equal(options.struct_size, sizeof options);
  assert_int_equal(options.mode, QSIM_ADAROUND);
  assert_int_equal(options.num_iterations, 10000);
  assert_int_equal(options.num_samples, 1024);
  assert_int_equal(options.batch_samples, 32);
  assert_true(options.regularization == 0.01);
  assert_true(options.beta_start == 20.0 && options.beta_end == 2.0);
  assert_true(options.warm_start == 0.2 && options.learning_rate == 1e-3);
  assert_true(options.zeta == 1.1 && options.gamma == -0.1);
  assert_int_equal(options.adaquant_iterations, 1000);
  assert_true(options.adaquant_learning_rate == 1e-5);
  assert_int_equal(options.adaquant_early_stop, 0);
  assert_int_equal(options.adaquant_train_bias, 0);
  assert_int_equal(qsim_adaround_options_init(NULL, sizeof options), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_adaround_options_init(&options, 0), QSIM_ERR_INVALID_ARGUMENT);
}

static void test_call_order_and_bad_input(void** state) {
  (void)state;
  qsim_adaround_options options = quick_options();
  assert_int_equal(run_adaround(NULL, &options, 64, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("session");
  qsim_session* session = open_model(RESNET, NULL);
  assert_int_equal(qsim_adaround(session, NULL, NULL, &options, NULL, NULL),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("reader");
  assert_int_equal(run_adaround(session, &options, 64, NULL, NULL), QSIM_ERR_STATE);
  assert_error_mentions("calibrate");

  calibrate_default(session);
  options.num_iterations = 0;
  assert_int_equal(run_adaround(session, &options, 64, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("iterations is 0");
  options = quick_options();
  assert_int_equal(run_adaround(session, &options, 0, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("no sample");
  options.mode = (qsim_adaround_mode)7;
  assert_int_equal(run_adaround(session, &options, 64, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("mode");
  options = quick_options();
  options.warm_start = 1.5;
  assert_int_equal(run_adaround(session, &options, 64, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("warm_start");
  batch_source failing = make_source(calib_images(), 64, 16);
  failing.fault = SOURCE_ERROR;
  failing.fault_batch = 2;
  options = quick_options();
  assert_int_equal(qsim_adaround(session, read_source, &failing, &options, NULL, NULL),
                   QSIM_ERR_CALLBACK);
  assert_error_mentions("reader returned -1");
  qsim_destroy(session);
}

/* Cancelling leaves the simulation exactly as it was; a later run then changes it. */
static void test_cancel_then_run(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  calibrate_default(session);
  static float before[EVAL_IMAGES * 10], after[EVAL_IMAGES * 10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, before),
                   QSIM_OK);
  size_t count = 0, count_after = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);

  qsim_adaround_options options = quick_options();
  iteration_log log = {0, 0, 15, 0};
  assert_int_equal(run_adaround(session, &options, 64, record_iterations, &log),
                   QSIM_ERR_CANCELLED);
  assert_error_mentions("cancelled");
  assert_int_equal(log.last_done, 15);
  assert_int_equal(log.total, 10 * 6); /* 10 layers of 6 iterations */
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, after),
                   QSIM_OK);
  assert_memory_equal(before, after, sizeof before);

  iteration_log full = {0, 0, 0, 0};
  assert_int_equal(run_adaround(session, &options, 64, record_iterations, &full), QSIM_OK);
  assert_int_equal(full.last_done, 60);
  assert_int_equal(qsim_encoding_count(session, &count_after), QSIM_OK);
  assert_int_equal(count_after, count);
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, after),
                   QSIM_OK);
  assert_true(memcmp(before, after, sizeof before) != 0);
  /* The float model is the one loaded, whatever AdaRound did. */
  static float float_before[EVAL_IMAGES * 10];
  qsim_session* fresh = open_model(RESNET, NULL);
  assert_int_equal(run_logits(fresh, QSIM_RUN_FLOAT, eval_images(), EVAL_IMAGES, float_before),
                   QSIM_OK);
  assert_int_equal(run_logits(session, QSIM_RUN_FLOAT, eval_images(), EVAL_IMAGES, after), QSIM_OK);
  assert_memory_equal(float_before, after, sizeof after);
  qsim_destroy(fresh);

  /* The exported encodings record the technique. */
  assert_true(exported_json_mentions(session, "\"adaround\""));
  qsim_destroy(session);
}

/* AdaQuant with 1 and with 2 threads: the same simulation, bit for bit. */
static void test_threads_agree(void** state) {
  (void)state;
  static float logits[2][EVAL_IMAGES * 10];
  for (int threads = 1; threads <= 2; ++threads) {
    qsim_options session_options = test_options();
    session_options.num_threads = threads;
    qsim_session* session = open_model(RESNET, &session_options);
    calibrate_default(session);
    qsim_adaround_options options = quick_options();
    options.mode = QSIM_ADAQUANT;
    options.adaquant_learning_rate = 1e-3;
    options.seed = 42;
    assert_int_equal(run_adaround(session, &options, 96, NULL, NULL), QSIM_OK);
    assert_int_equal(
        run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, logits[threads - 1]),
        QSIM_OK);
    qsim_destroy(session);
  }
  assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
}

/* Bias correction through qsim_adaround: the quantized logits change, the encodings file records
   it, and a cancelled run leaves the session as it was. */
static void test_bias_correction(void** state) {
  (void)state;
  static float before[EVAL_IMAGES * 10], after[EVAL_IMAGES * 10], again[EVAL_IMAGES * 10];
  qsim_options session_options = test_options();
  session_options.weight_bits = 4;
  qsim_session* session = open_model(RESNET, &session_options);
  calibrate_default(session);
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, before),
                   QSIM_OK);
  qsim_adaround_options options = quick_options();
  options.mode = QSIM_BIAS_CORRECTION;
  iteration_log log = {0, 0, 2, 0};
  assert_int_equal(run_adaround(session, &options, 64, record_iterations, &log),
                   QSIM_ERR_CANCELLED);
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, again),
                   QSIM_OK);
  assert_memory_equal(before, again, sizeof before);
  assert_int_equal(run_adaround(session, &options, 64, NULL, NULL), QSIM_OK);
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, after),
                   QSIM_OK);
  assert_true(memcmp(before, after, sizeof before) != 0);
  assert_true(exported_json_mentions(session, "\"bias_correction\""));
  qsim_destroy(session);
}

/* Analytical bias correction: after BN folding and CLE (with high-bias absorption), the layers
   BN statistics describe are corrected from them, the rest from data; the record says how
   many, and the notes name them. */
static void test_bias_correction_analytical(void** state) {
  (void)state;
  qsim_options session_options = test_options();
  session_options.weight_bits = 4;
  session_options.cross_layer_equalization = 1;
  qsim_session* session = open_model(RESNET, &session_options);
  calibrate_default(session);
  qsim_adaround_options options = quick_options();
  options.mode = QSIM_BIAS_CORRECTION_ANALYTICAL;
  assert_int_equal(run_adaround(session, &options, 64, NULL, NULL), QSIM_OK);
  assert_true(exported_json_mentions(session, "\"analytical_layers\": \"3\""));
  char* notes = NULL;
  assert_int_equal(qsim_get_notes(session, &notes), QSIM_OK);
  assert_non_null(strstr(notes, "(analytical)"));
  qsim_free(notes);
  options.mode = (qsim_adaround_mode)4;
  assert_int_equal(run_adaround(session, &options, 64, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("mode");
  qsim_destroy(session);
}

int run_adaround_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_defaults), cmocka_unit_test(test_call_order_and_bad_input),
      cmocka_unit_test(test_cancel_then_run),  cmocka_unit_test(test_threads_agree),
      cmocka_unit_test(test_bias_correction),  cmocka_unit_test(test_bias_correction_analytical),
  };
  return cmocka_run_group_tests_name("adaround", tests, NULL, NULL);
}
