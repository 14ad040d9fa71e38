/* Separate sessions on separate threads: nothing shared, identical results, and the last
   error belongs to its thread. No cmocka assertions run off the main thread. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "capi_tests.h"

#define THREADS 2

typedef struct worker {
  const char* model;
  qsim_status status;
  char error[512];
  float logits[EVAL_IMAGES * 10];
} worker;

static void* quantize_and_run(void* arg) {
  worker* w = arg;
  qsim_options options;
  qsim_options_init(&options, sizeof options);
  options.num_threads = 1;
  qsim_session* session = NULL;
  w->status = qsim_create(w->model, &options, &session);
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  if (w->status == QSIM_OK) w->status = qsim_calibrate(session, read_source, &source, NULL, NULL);
  if (w->status == QSIM_OK)
    w->status = run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, w->logits);
  snprintf(w->error, sizeof w->error, "%s", qsim_last_error());
  qsim_destroy(session);
  return NULL;
}

static void run_workers(worker* workers, size_t count) {
  pthread_t threads[THREADS];
  for (size_t i = 0; i < count; ++i)
    assert_int_equal(pthread_create(&threads[i], NULL, quantize_and_run, &workers[i]), 0);
  for (size_t i = 0; i < count; ++i) assert_int_equal(pthread_join(threads[i], NULL), 0);
  for (size_t i = 0; i < count; ++i)
    if (workers[i].status != QSIM_OK) fail_msg("worker %zu: %s", i, workers[i].error);
}

static void test_two_threads_identical(void** state) {
  (void)state;
  calib_images(); /* loaded once, before the threads read them */
  eval_images();
  static worker workers[THREADS], alone;
  char model[1024];
  snprintf(model, sizeof model, "%s", model_path("resnet_fmnist.onnx"));
  for (size_t i = 0; i < THREADS; ++i) workers[i].model = model;
  alone.model = model;
  run_workers(workers, THREADS);
  run_workers(&alone, 1);
  for (size_t i = 0; i < THREADS; ++i)
    assert_memory_equal(workers[i].logits, alone.logits, sizeof alone.logits);
}

/* A failure on one thread is not another thread's last error. */
static void* fail_once(void* arg) {
  worker* w = arg;
  qsim_session* session = NULL;
  w->status = qsim_create(w->model, NULL, &session);
  snprintf(w->error, sizeof w->error, "%s", qsim_last_error());
  return NULL;
}

static void test_last_error_is_per_thread(void** state) {
  (void)state;
  qsim_session* session = NULL;
  assert_int_equal(qsim_create("/nonexistent/main-thread.onnx", NULL, &session), QSIM_ERR_IO);
  static worker w;
  w.model = "/nonexistent/other-thread.onnx";
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, fail_once, &w), 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_int_equal(w.status, QSIM_ERR_IO);
  assert_non_null(strstr(w.error, "other-thread"));
  assert_error_mentions("main-thread");
}

int run_thread_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_threads_identical),
      cmocka_unit_test(test_last_error_is_per_thread),
  };
  return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
