/*
 * qsim: post-training quantization and quantization simulation for ONNX models.
 *
 * The stable C interface. Conventions (as in sqlite3 and libgit2):
 *  - every call returns a qsim_status; results come back through pointer parameters;
 *  - on failure, qsim_last_error() returns a message (thread-local, valid until the next
 *    qsim call on the same thread) naming the file, tensor or op at fault;
 *  - handles are opaque; a handle is used by one thread at a time, separate handles are
 *    independent and may be used from separate threads; nothing is process-global;
 *  - options structs start with their own size; initialise them with the *_init function
 *    so that fields added later get their defaults for old callers;
 *  - no call aborts or exits the process.
 */
#ifndef QSIM_QSIM_H
#define QSIM_QSIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define QSIM_API __declspec(dllexport)
#else
#define QSIM_API __attribute__((visibility("default")))
#endif

#define QSIM_VERSION_MAJOR 0
#define QSIM_VERSION_MINOR 1
#define QSIM_VERSION_PATCH 0
#define QSIM_MAX_RANK 8

typedef enum qsim_status {
  QSIM_OK = 0,
  QSIM_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, bad option, wrong call order */
  QSIM_ERR_IO = 2,               /* cannot read or write a file */
  QSIM_ERR_PARSE = 3,            /* corrupt, truncated or malformed input file */
  QSIM_ERR_UNSUPPORTED = 4,      /* op, attribute, dtype or opset qsim does not implement */
  QSIM_ERR_SHAPE = 5,            /* shapes that do not fit */
  QSIM_ERR_STATE = 6,            /* call not valid in the handle's current state */
  QSIM_ERR_CANCELLED = 7,        /* a progress callback asked to stop */
  QSIM_ERR_OUT_OF_MEMORY = 8,
  QSIM_ERR_BUFFER_TOO_SMALL = 9, /* an output buffer is too small; the size needed is reported */
  QSIM_ERR_NUMERIC = 10,         /* NaN/Inf or a range that cannot be quantized */
  QSIM_ERR_INTERNAL = 11
} qsim_status;

typedef enum qsim_dtype {
  QSIM_DTYPE_UNDEFINED = 0,
  QSIM_DTYPE_FLOAT32 = 1,
  QSIM_DTYPE_UINT8 = 2,
  QSIM_DTYPE_INT8 = 3,
  QSIM_DTYPE_INT32 = 6,
  QSIM_DTYPE_INT64 = 7,
  QSIM_DTYPE_BOOL = 9
} qsim_dtype;

/* A tensor passed in or out: caller-owned memory, C order. */
typedef struct qsim_tensor {
  const char* name; /* model input/output name; NULL binds inputs by position */
  qsim_dtype dtype;
  int32_t rank;
  int64_t shape[QSIM_MAX_RANK];
  void* data;
  size_t size_bytes; /* inputs: bytes of data; outputs: capacity, set to bytes written */
} qsim_tensor;

typedef struct qsim_session qsim_session;

/* Library version "MAJOR.MINOR.PATCH"; static storage. */
QSIM_API const char* qsim_version(void);
/* Message of the last failed call on this thread, or "" when there is none. */
QSIM_API const char* qsim_last_error(void);
/* Name of a status code ("QSIM_ERR_PARSE"). */
QSIM_API const char* qsim_status_name(qsim_status status);

typedef struct qsim_options {
  uint32_t struct_size;  /* sizeof(qsim_options) of the caller; set by qsim_options_init */
  int32_t num_threads;   /* 0 = all cores */
  int32_t weight_bits;   /* quantization settings, used by QuantSim */
  int32_t activation_bits;
  int32_t per_channel;
  uint64_t seed;
} qsim_options;

QSIM_API qsim_status qsim_options_init(qsim_options* options, uint32_t struct_size);
#define QSIM_OPTIONS_INIT(opts) qsim_options_init((opts), (uint32_t)sizeof(qsim_options))

/* Loads a model. options may be NULL for defaults. */
QSIM_API qsim_status qsim_create(const char* model_path, const qsim_options* options,
                                 qsim_session** out_session);
QSIM_API qsim_status qsim_create_from_memory(const void* model_data, size_t model_size,
                                             const qsim_options* options,
                                             qsim_session** out_session);
/* Frees the session; NULL is allowed. */
QSIM_API void qsim_destroy(qsim_session* session);

typedef enum qsim_io_kind { QSIM_INPUT = 0, QSIM_OUTPUT = 1 } qsim_io_kind;

QSIM_API qsim_status qsim_io_count(const qsim_session* session, qsim_io_kind kind,
                                   size_t* out_count);
/* Name, dtype and declared shape of input/output `index` (-1 for a symbolic dimension).
   The name stays valid as long as the session. */
QSIM_API qsim_status qsim_io_info(const qsim_session* session, qsim_io_kind kind, size_t index,
                                  qsim_tensor* out_info);

typedef enum qsim_run_mode {
  QSIM_RUN_FLOAT = 0,    /* the float model */
  QSIM_RUN_QUANTIZED = 1 /* quantization simulation (needs calibrated encodings) */
} qsim_run_mode;

/* Output shapes and dtypes for these inputs (data may be NULL); fills outputs[i].rank,
   shape, dtype and size_bytes (the bytes needed). */
QSIM_API qsim_status qsim_infer_shapes(qsim_session* session, const qsim_tensor* inputs,
                                       size_t num_inputs, qsim_tensor* outputs,
                                       size_t num_outputs);
/* Runs inference. Outputs are in model order; each needs data and size_bytes (capacity).
   On QSIM_ERR_BUFFER_TOO_SMALL, size_bytes of the short output holds the size needed. */
QSIM_API qsim_status qsim_run(qsim_session* session, qsim_run_mode mode,
                              const qsim_tensor* inputs, size_t num_inputs,
                              qsim_tensor* outputs, size_t num_outputs);

typedef enum qsim_text_format { QSIM_FORMAT_TEXT = 0, QSIM_FORMAT_JSON = 1 } qsim_text_format;

/* A description of the model at model_path (inputs, outputs, op counts, parameter count,
   unsupported ops), as text or JSON. Works for models with unsupported ops. Free the
   string with qsim_free. */
QSIM_API qsim_status qsim_describe_model(const char* model_path, qsim_text_format format,
                                         char** out_text);
QSIM_API void qsim_free(void* pointer);

#ifdef __cplusplus
}
#endif

#endif /* QSIM_QSIM_H */
