/* Shared pieces of the cmocka C API tests: real data (Fashion-MNIST and the reference
   models), data readers and progress callbacks, temporary folders. Each test file exposes
   one group runner that main() in test_capi.c calls. */
#ifndef QSIM_TESTS_CAPI_TESTS_H
#define QSIM_TESTS_CAPI_TESTS_H

#include <stddef.h>
#include <stdint.h>

#include "qsim/qsim.h"

#define FMNIST_PIXELS 784 /* one 1x28x28 image */
#define CALIB_IMAGES 256  /* training images the tests calibrate on */
#define CALIB_BATCH 64
#define EVAL_IMAGES 64 /* test images the tests run */

/* Float [count,1,28,28] = pixel / 255 from the Fashion-MNIST training or test images, loaded
   once per process (gzip -dc reads the Debian dataset). */
const float* calib_images(void);
const float* eval_images(void);

/* Path of a reference model in models/ (static storage). */
const char* model_path(const char* file);
/* A session on models/<file> with `options` (NULL: defaults with 1 thread); asserts success. */
qsim_session* open_model(const char* file, const qsim_options* options);
/* Options with one thread (fast, deterministic tests). */
qsim_options test_options(void);

/* Feeds `count` images in batches of `batch`, optionally misbehaving. */
typedef enum source_fault {
  SOURCE_OK = 0,
  SOURCE_ERROR,     /* returns -1 at batch fault_batch */
  SOURCE_BAD_SHAPE, /* a 27x28 image at batch fault_batch */
  SOURCE_BAD_DTYPE, /* uint8 data at batch fault_batch */
  SOURCE_BAD_NAME,  /* names the input "nope" at batch fault_batch */
} source_fault;

typedef struct batch_source {
  const float* images;
  size_t count;
  size_t batch;
  size_t next;
  source_fault fault;
  int fault_batch; /* 1-based */
  int batches_given;
} batch_source;

batch_source make_source(const float* images, size_t count, size_t batch);
int read_source(void* user, qsim_tensor* inputs, size_t num_inputs);

/* Records progress calls; cancels (returns 1) at done == cancel_at when cancel_at > 0. */
typedef struct progress_log {
  int calls;
  int64_t last_done;
  int64_t last_total;
  int64_t cancel_at;
} progress_log;

int record_progress(void* user, int64_t done, int64_t total, const char* message);

/* Encoding `index` of the session (qsim_get_encoding); asserts success. */
qsim_encoding_info encoding_info(const qsim_session* session, size_t index);

/* Calibrates on the CALIB_IMAGES training images; asserts success. */
void calibrate_default(qsim_session* session);
/* Runs `count` images from `images` (mode) and writes count*10 logits into `logits`. */
qsim_status run_logits(qsim_session* session, qsim_run_mode mode, const float* images, size_t count,
                       float* logits);

/* Temporary folders. */
char* make_temp_dir(void); /* free with remove_temp_dir */
void remove_temp_dir(char* path);
/* Number of entries in `dir` (-1 when it does not exist). */
int count_entries(const char* dir);
int file_exists(const char* dir, const char* name);
/* dir + "/" + name into a static buffer of the calling thread's test. */
const char* join_path(const char* dir, const char* name);

/* Asserts that the last error message contains `text`. */
void assert_error_mentions(const char* text);
/* Asserts that the session's last error message (qsim_session_last_error) contains `text`. */
void assert_session_error_mentions(const qsim_session* session, const char* text);

int run_option_tests(void);
int run_calibrate_tests(void);
int run_encodings_tests(void);
int run_export_tests(void);
int run_thread_tests(void);
int run_ffi_tests(void);
int run_adaround_tests(void);
int run_target_tests(void);

#endif
