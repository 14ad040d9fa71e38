"""The binding's own copy of qsim.h's types and functions, for cffi's ABI mode.

cffi reads these declarations instead of the header, so nothing is compiled at install time.
tests/test_abi.py checks them against the installed header: every QSIM_API function must be
declared here with the same signature, and every struct must have the header's layout.
"""

# The qsim.h version these declarations copy (QSIM_VERSION_MAJOR / _MINOR).
HEADER_MAJOR = 0
HEADER_MINOR = 3

CDEF = r"""
#define QSIM_MAX_RANK 8

typedef enum qsim_status {
  QSIM_OK = 0,
  QSIM_ERR_INVALID_ARGUMENT = 1,
  QSIM_ERR_IO = 2,
  QSIM_ERR_PARSE = 3,
  QSIM_ERR_UNSUPPORTED = 4,
  QSIM_ERR_SHAPE = 5,
  QSIM_ERR_STATE = 6,
  QSIM_ERR_CANCELLED = 7,
  QSIM_ERR_OUT_OF_MEMORY = 8,
  QSIM_ERR_BUFFER_TOO_SMALL = 9,
  QSIM_ERR_NUMERIC = 10,
  QSIM_ERR_INTERNAL = 11,
  QSIM_ERR_CALLBACK = 12,
  QSIM_ERR_INCOMPLETE = 13,
  QSIM_STATUS_FORCE_INT32 = 0x7FFFFFFF
} qsim_status;

typedef enum qsim_dtype {
  QSIM_DTYPE_UNDEFINED = 0,
  QSIM_DTYPE_FLOAT32 = 1,
  QSIM_DTYPE_UINT8 = 2,
  QSIM_DTYPE_INT8 = 3,
  QSIM_DTYPE_UINT16 = 4,
  QSIM_DTYPE_INT16 = 5,
  QSIM_DTYPE_INT32 = 6,
  QSIM_DTYPE_INT64 = 7,
  QSIM_DTYPE_BOOL = 9,
  QSIM_DTYPE_FORCE_INT32 = 0x7FFFFFFF
} qsim_dtype;

typedef struct qsim_tensor {
  const char* name;
  qsim_dtype dtype;
  int32_t rank;
  int64_t shape[QSIM_MAX_RANK];
  void* data;
  size_t size_bytes;
} qsim_tensor;

typedef struct qsim_session qsim_session;

const char* qsim_version(void);
int32_t qsim_version_number(void);
qsim_status qsim_kernel_path(const char** out_name, const char** out_report);
const char* qsim_last_error(void);
const char* qsim_session_last_error(const qsim_session* session);
const char* qsim_status_name(qsim_status status);

typedef enum qsim_calibration_method {
  QSIM_CALIB_MINMAX = 0,
  QSIM_CALIB_TF_ENHANCED = 1,
  QSIM_CALIB_PERCENTILE = 2,
  QSIM_CALIB_ENTROPY = 3,
  QSIM_CALIB_MSE = 4,
  QSIM_CALIB_POW2 = 5,
  QSIM_CALIBRATION_METHOD_FORCE_INT32 = 0x7FFFFFFF
} qsim_calibration_method;

qsim_status qsim_calibration_method_from_name(const char* name,
                                              qsim_calibration_method* out_method);

typedef enum qsim_nan_policy {
  QSIM_NAN_REJECT = 0,
  QSIM_NAN_EXCLUDE = 1,
  QSIM_NAN_POLICY_FORCE_INT32 = 0x7FFFFFFF
} qsim_nan_policy;

typedef enum qsim_target {
  QSIM_TARGET_EXACT = 0,
  QSIM_TARGET_ORT_AVX2 = 1,
  QSIM_TARGET_FORCE_INT32 = 0x7FFFFFFF
} qsim_target;
qsim_status qsim_target_from_name(const char* name, qsim_target* out_target);

typedef struct qsim_options {
  uint32_t struct_size;
  int32_t num_threads;
  int32_t weight_bits;
  int32_t activation_bits;
  int32_t per_channel;
  uint64_t seed;
  qsim_calibration_method activation_calibration;
  qsim_calibration_method weight_calibration;
  double percentile;
  const char* config_path;
  const char* config_json;
  int32_t fold_batch_norm;
  qsim_nan_policy nan_policy;
  qsim_target target;
  qsim_target emulate;
  uint64_t max_tensor_bytes;
  int32_t cross_layer_equalization;
  int32_t cle_steps;
  int32_t cle_replace_relu6;
  int32_t cle_high_bias_absorption;
  int32_t cle_include_bias;
} qsim_options;

qsim_status qsim_options_init(qsim_options* options, uint32_t struct_size);

qsim_status qsim_create(const char* model_path, const qsim_options* options,
                        qsim_session** out_session);
qsim_status qsim_create_from_memory(const void* model_data, size_t model_size,
                                    const qsim_options* options, qsim_session** out_session);
void qsim_destroy(qsim_session* session);

typedef enum qsim_io_kind {
  QSIM_INPUT = 0,
  QSIM_OUTPUT = 1,
  QSIM_IO_KIND_FORCE_INT32 = 0x7FFFFFFF
} qsim_io_kind;

qsim_status qsim_io_count(const qsim_session* session, qsim_io_kind kind, size_t* out_count);
qsim_status qsim_io_info(const qsim_session* session, qsim_io_kind kind, size_t index,
                         qsim_tensor* out_info);

typedef enum qsim_run_mode {
  QSIM_RUN_FLOAT = 0,
  QSIM_RUN_QUANTIZED = 1,
  QSIM_RUN_MODE_FORCE_INT32 = 0x7FFFFFFF
} qsim_run_mode;

qsim_status qsim_infer_shapes(qsim_session* session, const qsim_tensor* inputs,
                              size_t num_inputs, qsim_tensor* outputs, size_t num_outputs);
qsim_status qsim_run(qsim_session* session, qsim_run_mode mode, const qsim_tensor* inputs,
                     size_t num_inputs, qsim_tensor* outputs, size_t num_outputs);

typedef int (*qsim_progress_fn)(void* user_data, int64_t done, int64_t total, const char* message);
typedef int (*qsim_data_reader_fn)(void* user_data, qsim_tensor* inputs, size_t num_inputs);

typedef struct qsim_data_source qsim_data_source;

qsim_status qsim_data_source_from_npy(const char* const* paths, size_t num_paths,
                                      int64_t batch_size, qsim_data_source** out_source);
qsim_status qsim_data_source_from_memory(const qsim_tensor* arrays, size_t num_arrays,
                                         int64_t batch_size, qsim_data_source** out_source);
qsim_status qsim_data_source_samples(const qsim_data_source* source, int64_t* out_samples);
int qsim_data_source_read(void* source, qsim_tensor* inputs, size_t num_inputs);
void qsim_data_source_destroy(qsim_data_source* source);

qsim_status qsim_calibrate(qsim_session* session, qsim_data_reader_fn reader, void* reader_data,
                           qsim_progress_fn progress, void* progress_data);
qsim_status qsim_load_encodings(qsim_session* session, const char* path);

typedef struct qsim_smooth_quant_options {
  uint32_t struct_size;
  double alpha;
  int32_t num_samples;
} qsim_smooth_quant_options;

qsim_status qsim_smooth_quant_options_init(qsim_smooth_quant_options* options,
                                           uint32_t struct_size);
qsim_status qsim_smooth_quant(qsim_session* session, qsim_data_reader_fn reader,
                              void* reader_data, const qsim_smooth_quant_options* options,
                              qsim_progress_fn progress, void* progress_data);

typedef enum qsim_adaround_mode {
  QSIM_ADAROUND = 0,
  QSIM_ADAQUANT = 1,
  QSIM_BIAS_CORRECTION = 2,
  QSIM_BIAS_CORRECTION_ANALYTICAL = 3,
  QSIM_ADAROUND_MODE_FORCE_INT32 = 0x7FFFFFFF
} qsim_adaround_mode;

typedef struct qsim_adaround_options {
  uint32_t struct_size;
  qsim_adaround_mode mode;
  int32_t num_iterations;
  int32_t num_samples;
  int32_t batch_samples;
  int32_t num_threads;
  uint64_t seed;
  uint64_t memory_budget_bytes;
  double regularization;
  double beta_start;
  double beta_end;
  double warm_start;
  double learning_rate;
  double zeta;
  double gamma;
  int32_t adaquant_iterations;
  int32_t adaquant_early_stop;
  double adaquant_learning_rate;
  int32_t adaquant_train_bias;
} qsim_adaround_options;

qsim_status qsim_adaround_options_init(qsim_adaround_options* options, uint32_t struct_size);
qsim_status qsim_adaround(qsim_session* session, qsim_data_reader_fn reader, void* reader_data,
                          const qsim_adaround_options* options, qsim_progress_fn progress,
                          void* progress_data);

typedef enum qsim_tensor_role {
  QSIM_ROLE_MODEL_INPUT = 0,
  QSIM_ROLE_ACTIVATION = 1,
  QSIM_ROLE_WEIGHT = 2,
  QSIM_ROLE_BIAS = 3,
  QSIM_TENSOR_ROLE_FORCE_INT32 = 0x7FFFFFFF
} qsim_tensor_role;

typedef enum qsim_symmetry {
  QSIM_ASYMMETRIC = 0,
  QSIM_SYMMETRIC = 1,
  QSIM_STRICT_SYMMETRIC = 2,
  QSIM_UNSIGNED_SYMMETRIC = 3,
  QSIM_SYMMETRY_FORCE_INT32 = 0x7FFFFFFF
} qsim_symmetry;

typedef struct qsim_encoding_info {
  uint32_t struct_size;
  const char* name;
  qsim_tensor_role role;
  int32_t quantized;
  int32_t bitwidth;
  qsim_symmetry symmetry;
  int32_t axis;
  size_t num_channels;
  int64_t excluded_values;
} qsim_encoding_info;

qsim_status qsim_encoding_count(const qsim_session* session, size_t* out_count);
qsim_status qsim_get_encoding(const qsim_session* session, size_t index,
                              qsim_encoding_info* out_info);
qsim_status qsim_get_encoding_channels(const qsim_session* session, size_t index,
                                       float* scales, int32_t* offsets, size_t capacity);
qsim_status qsim_get_notes(qsim_session* session, char** out_text);

typedef enum qsim_export_format {
  QSIM_EXPORT_ENCODINGS_FBS = 1,
  QSIM_EXPORT_AIMET_JSON_0_6_1 = 2,
  QSIM_EXPORT_AIMET_JSON_1_0_0 = 4,
  QSIM_EXPORT_ONNX_ROUNDED = 8,
  QSIM_EXPORT_ONNX_QDQ = 16,
  QSIM_EXPORT_ALL = 31,
  QSIM_EXPORT_FORMAT_FORCE_INT32 = 0x7FFFFFFF
} qsim_export_format;

typedef enum qsim_qdq_wide_form {
  QSIM_QDQ_WIDE_MICROSOFT = 0,
  QSIM_QDQ_WIDE_OPSET21 = 1,
  QSIM_QDQ_WIDE_FORM_FORCE_INT32 = 0x7FFFFFFF
} qsim_qdq_wide_form;

typedef struct qsim_export_options {
  uint32_t struct_size;
  uint32_t formats;
  const char* basename;
  int32_t qdq_int8_activations;
  int32_t qdq_wide_form;
} qsim_export_options;

qsim_status qsim_export_options_init(qsim_export_options* options, uint32_t struct_size);
qsim_status qsim_export(qsim_session* session, const char* out_dir,
                        const qsim_export_options* options);
qsim_status qsim_exported_formats(qsim_session* session, uint32_t* out_formats);

typedef enum qsim_text_format {
  QSIM_FORMAT_TEXT = 0,
  QSIM_FORMAT_JSON = 1,
  QSIM_TEXT_FORMAT_FORCE_INT32 = 0x7FFFFFFF
} qsim_text_format;

qsim_status qsim_describe_model(const char* model_path, qsim_text_format format, char** out_text);
void qsim_free(void* pointer);
"""
