/** \file qsim/qsim.h
 *
 * qsim: post-training quantization and quantization simulation for ONNX models.
 *
 * The stable C interface. Conventions (as in sqlite3 and libgit2):
 *  - every call returns a qsim_status; results come back through pointer parameters;
 *  - on failure, a message naming the file, tensor or op at fault is kept twice: for the
 *    session the call was given, read with qsim_session_last_error(session) (valid until the
 *    session's next call; what FFI callers whose threads move between OS threads, such as
 *    goroutines, read), and for the calling thread, read with qsim_last_error() (valid until
 *    the thread's next qsim call; the only one for calls without a session: qsim_create,
 *    qsim_describe_model, qsim_data_source_*, the *_from_name and *_init calls);
 *  - handles are opaque; a handle is used by one thread at a time, separate handles are
 *    independent and may be used from separate threads;
 *  - nothing is process-global, with one exception OpenBLAS forces: it has one thread count
 *    for the whole process. qsim splits work over its own threads, so while a qsim call
 *    computes it holds OpenBLAS at one thread; when the last such call in the process returns,
 *    the count the process had is restored (another OpenBLAS user, e.g. numpy, keeps its
 *    count across qsim calls, but runs single-threaded during them);
 *  - options structs start with their own size; initialise them with the *_init function,
 *    qsim_options_init(&o, sizeof o), so that fields added later get their defaults for old
 *    callers (a function, not a macro: cgo, bindgen and cffi call it as they are);
 *  - callbacks (data readers, progress) run on the thread that made the call, before it
 *    returns; a callback may call anything in qsim except a call on the session it serves
 *    (that call fails with QSIM_ERR_STATE and leaves the running call alone; the running
 *    call sets the session's message again when it returns);
 *  - no call aborts or exits the process.
 */
#ifndef QSIM_QSIM_H
#define QSIM_QSIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** QSIM_STATIC: define it when linking libqsim.a (only Windows needs it; qsim's own build
   target qsim_static carries it). QSIM_BUILDING: defined only while qsim itself is built. */
#if defined(QSIM_STATIC)
#define QSIM_API
#elif defined(_WIN32)
#if defined(QSIM_BUILDING)
#define QSIM_API __declspec(dllexport)
#else
#define QSIM_API __declspec(dllimport)
#endif
#else
#define QSIM_API __attribute__((visibility("default")))
#endif

#define QSIM_VERSION_MAJOR 0
#define QSIM_VERSION_MINOR 3
#define QSIM_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH, for `#if`; qsim_version_number() gives the library's. */
#define QSIM_VERSION_NUMBER \
  (QSIM_VERSION_MAJOR * 10000 + QSIM_VERSION_MINOR * 100 + QSIM_VERSION_PATCH)
#define QSIM_MAX_RANK 8

/** Every enum is 32 bits wide in every compiler: C++ gives it int32_t as its underlying type,
   and C sees a *_FORCE_INT32 sentinel (the Vulkan convention). Any int32 a caller passes is
   then a valid value, which qsim rejects with an error when it names nothing. */
#ifdef __cplusplus
#define QSIM_ENUM_BASE : int32_t
#else
#define QSIM_ENUM_BASE
#endif

typedef enum qsim_status QSIM_ENUM_BASE {
  QSIM_OK = 0,
  QSIM_ERR_INVALID_ARGUMENT = 1, /**< NULL pointer, bad option, wrong call order */
  QSIM_ERR_IO = 2,               /**< cannot read or write a file */
  QSIM_ERR_PARSE = 3,            /**< corrupt, truncated or malformed input file */
  QSIM_ERR_UNSUPPORTED = 4,      /**< op, attribute, dtype or opset qsim does not implement */
  QSIM_ERR_SHAPE = 5,            /**< shapes that do not fit */
  QSIM_ERR_STATE = 6,            /**< call not valid in the handle's current state */
  QSIM_ERR_CANCELLED = 7,        /**< a progress callback asked to stop */
  QSIM_ERR_OUT_OF_MEMORY = 8,
  QSIM_ERR_BUFFER_TOO_SMALL = 9, /**< an output buffer is too small; the size needed is reported */
  QSIM_ERR_NUMERIC = 10,         /**< NaN/Inf or a range that cannot be quantized */
  QSIM_ERR_INTERNAL = 11,
  QSIM_ERR_CALLBACK = 12, /**< a callback reported its own failure (returned a negative value) */
  QSIM_ERR_INCOMPLETE = 13, /**< some outputs were written, others skipped: the message says
                               which and why (qsim_export) */
  QSIM_STATUS_FORCE_INT32 = 0x7FFFFFFF
} qsim_status;

typedef enum qsim_dtype QSIM_ENUM_BASE {
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

/** A tensor passed in or out: caller-owned memory, C order. */
typedef struct qsim_tensor {
  const char* name; /**< model input/output name; NULL binds inputs by position */
  qsim_dtype dtype;
  int32_t rank;
  int64_t shape[QSIM_MAX_RANK];
  void* data;
  size_t size_bytes; /**< inputs: bytes of data; outputs: capacity, set to bytes written */
} qsim_tensor;

typedef struct qsim_session qsim_session;

/** Library version "MAJOR.MINOR.PATCH"; static storage. */
QSIM_API const char* qsim_version(void);
/** The library's QSIM_VERSION_NUMBER: a program built against one header can check the
   library it loaded. */
QSIM_API int32_t qsim_version_number(void);
/** The kernel path this process takes: "avx512", "avx2" or "baseline" (portable code, and the
   only path off x86-64), the best the CPU supports unless the environment variable
   QSIM_MAX_ISA (baseline, avx2 or avx512, read once per process) caps it lower.
   *out_report, when not NULL, gets one line for logs, e.g. "avx2 (CPU: avx512;
   QSIM_MAX_ISA=avx2)", saying also when the cap asks for more than the CPU has (the CPU's best
   path is then used). Both strings live as long as the process. QSIM_ERR_INVALID_ARGUMENT when
   QSIM_MAX_ISA holds an unknown value; qsim_create then fails the same way. */
QSIM_API qsim_status qsim_kernel_path(const char** out_name, const char** out_report);
/** Message of the last failed call on this thread, or "" when there is none. */
QSIM_API const char* qsim_last_error(void);
/** Message of the session's last call when it failed, "" when it succeeded (NULL session:
   ""). Valid until the session's next call or qsim_destroy. Read by callers that cannot
   stay on one thread between two calls. */
QSIM_API const char* qsim_session_last_error(const qsim_session* session);
/** Name of a status code ("QSIM_ERR_PARSE"). */
QSIM_API const char* qsim_status_name(qsim_status status);

typedef enum qsim_calibration_method QSIM_ENUM_BASE {
  QSIM_CALIB_MINMAX = 0,      /**< running min/max (AIMET "tf") */
  QSIM_CALIB_TF_ENHANCED = 1, /**< AIMET's default for activations */
  QSIM_CALIB_PERCENTILE = 2,  /**< ONNX Runtime's percentile of |x| */
  QSIM_CALIB_ENTROPY = 3,     /**< KL divergence (ONNX Runtime's entropy) */
  QSIM_CALIB_MSE = 4,         /**< least squared error clipping */
  QSIM_CALIB_POW2 = 5,        /**< power-of-two scales */
  QSIM_CALIBRATION_METHOD_FORCE_INT32 = 0x7FFFFFFF
} qsim_calibration_method;

/** The method of a name: "minmax", "tf_enhanced", "percentile", "entropy", "mse", "pow2"
   (what command lines and config files say); QSIM_ERR_INVALID_ARGUMENT listing the names
   otherwise. */
QSIM_API qsim_status qsim_calibration_method_from_name(const char* name,
                                                       qsim_calibration_method* out_method);

typedef enum qsim_nan_policy QSIM_ENUM_BASE {
  QSIM_NAN_REJECT = 0,  /**< calibration data holding NaN/Inf fails with QSIM_ERR_NUMERIC */
  QSIM_NAN_EXCLUDE = 1, /**< samples with NaN/Inf inputs are left out whole, NaN/Inf arising
                           inside the network value by value; both are counted */
  QSIM_NAN_POLICY_FORCE_INT32 = 0x7FFFFFFF
} qsim_nan_policy;

/** Integer arithmetic of the runtime a model is deployed on. */
typedef enum qsim_target QSIM_ENUM_BASE {
  QSIM_TARGET_EXACT = 0,    /**< exact integer sums: ORT with VNNI, SSE4.1 or ARM; QNN/SNPE */
  QSIM_TARGET_ORT_AVX2 = 1, /**< ORT's x86 U8S8 kernels without VNNI: u8 x s8 pair sums
                               saturate to int16 */
  QSIM_TARGET_FORCE_INT32 = 0x7FFFFFFF
} qsim_target;
/** The target of a name: "exact", "ort-avx2"; QSIM_ERR_INVALID_ARGUMENT listing the names
   otherwise. */
QSIM_API qsim_status qsim_target_from_name(const char* name, qsim_target* out_target);

typedef struct qsim_options {
  uint32_t struct_size;    /**< sizeof(qsim_options) of the caller; set by qsim_options_init */
  int32_t num_threads;     /**< 0 = all cores */
  int32_t weight_bits;     /**< 2..16, default 8 */
  int32_t activation_bits; /**< 2..16, default 8 */
  int32_t per_channel;     /**< per-channel weight encodings (default 0: as the config says) */
  uint64_t seed;           /**< unused, reserved; AdaRound's is qsim_adaround_options.seed */
  qsim_calibration_method activation_calibration; /**< default QSIM_CALIB_TF_ENHANCED */
  qsim_calibration_method weight_calibration;     /**< default QSIM_CALIB_MINMAX */
  double percentile;          /**< QSIM_CALIB_PERCENTILE: share kept, default 99.999 */
  const char* config_path;    /**< AIMET quantsim config JSON file, or NULL */
  const char* config_json;    /**< the same as a string, or NULL (not both) */
  int32_t fold_batch_norm;    /**< fold BatchNormalization into the Conv before it; default 1 */
  qsim_nan_policy nan_policy; /**< default QSIM_NAN_REJECT */
  qsim_target target; /**< the runtime the encodings are made for; default QSIM_TARGET_EXACT.
                         QSIM_TARGET_ORT_AVX2: every Conv, Gemm and MatMul weight ORT runs on
                         its U8S8 kernels gets a grid whose int8 values no pair sum can
                         saturate (docs/TARGETS.md). Recorded in every export. */
  qsim_target emulate;        /**< the arithmetic QSIM_RUN_QUANTIZED reproduces; default
                                 QSIM_TARGET_EXACT (QSIM_TARGET_ORT_AVX2: docs/ORT_AVX2.md) */
  uint64_t max_tensor_bytes;  /**< no tensor a run, calibration or AdaRound plans (a node's
                                 output, a folded constant) may exceed this many bytes: such a
                                 node fails with QSIM_ERR_OUT_OF_MEMORY naming it, before
                                 anything is allocated. Default 2 GiB (2^31); at most 2^40;
                                 0 is QSIM_ERR_INVALID_ARGUMENT. docs/LIMITS.md */
  int32_t cross_layer_equalization; /**< after BN folding, equalize the weight ranges of each two
                                       consecutive Conv/Gemm/MatMul layers (Relu, LeakyRelu,
                                       PRelu or ReLU6 between them): the model computes the
                                       same, per-tensor grids fit every channel. Recorded as
                                       technique "cle" in every export. Default 0.
                                       docs/EQUALIZATION.md */
  int32_t cle_steps;         /**< passes over every pair; -1 (default): until converged, at most
                                100 */
  int32_t cle_replace_relu6; /**< a Clip(0, 6) between two layers becomes Relu so that they can
                                be equalized (AIMET's default); 0 leaves such pairs alone.
                                Default 1 */
  int32_t cle_high_bias_absorption; /**< after CLE, move what a Relu would never see of each
                                       channel's bias (from the folded BatchNormalization's
                                       statistics) into the next layer's bias, as AIMET does.
                                       Default 1 */
  int32_t cle_include_bias; /**< count the first layer's bias in its channel ranges (Quark's
                               CLEScaleAppendBias). Default 0 (weights only, as AIMET) */
} qsim_options;

QSIM_API qsim_status qsim_options_init(qsim_options* options, uint32_t struct_size);

/** Loads a model. options may be NULL for defaults. Every option is checked here (bit widths,
   methods, the configuration, which is read and parsed now): QSIM_ERR_INVALID_ARGUMENT (or
   QSIM_ERR_IO / QSIM_ERR_PARSE for the configuration file) naming the option at fault. */
QSIM_API qsim_status qsim_create(const char* model_path, const qsim_options* options,
                                 qsim_session** out_session);
/** The same from an ONNX model in memory, which is read during the call only (the caller may
   free it when the call returns). */
QSIM_API qsim_status qsim_create_from_memory(const void* model_data, size_t model_size,
                                             const qsim_options* options,
                                             qsim_session** out_session);
/** Frees the session; NULL is allowed. */
QSIM_API void qsim_destroy(qsim_session* session);

typedef enum qsim_io_kind QSIM_ENUM_BASE {
  QSIM_INPUT = 0,
  QSIM_OUTPUT = 1,
  QSIM_IO_KIND_FORCE_INT32 = 0x7FFFFFFF
} qsim_io_kind;

QSIM_API qsim_status qsim_io_count(const qsim_session* session, qsim_io_kind kind,
                                   size_t* out_count);
/** Name, dtype and declared shape of input/output `index` (-1 for a symbolic dimension).
   The name stays valid as long as the session. */
QSIM_API qsim_status qsim_io_info(const qsim_session* session, qsim_io_kind kind, size_t index,
                                  qsim_tensor* out_info);

typedef enum qsim_run_mode QSIM_ENUM_BASE {
  QSIM_RUN_FLOAT = 0,     /**< the float model */
  QSIM_RUN_QUANTIZED = 1, /**< quantization simulation (needs calibrated encodings) */
  QSIM_RUN_MODE_FORCE_INT32 = 0x7FFFFFFF
} qsim_run_mode;

/** Output shapes and dtypes for these inputs (data may be NULL); fills outputs[i].rank,
   shape, dtype and size_bytes (the bytes needed). */
QSIM_API qsim_status qsim_infer_shapes(qsim_session* session, const qsim_tensor* inputs,
                                       size_t num_inputs, qsim_tensor* outputs, size_t num_outputs);
/** Runs inference. Outputs are in model order; each needs data and size_bytes (capacity).
   On QSIM_ERR_BUFFER_TOO_SMALL, size_bytes of the short output holds the size needed. */
QSIM_API qsim_status qsim_run(qsim_session* session, qsim_run_mode mode, const qsim_tensor* inputs,
                              size_t num_inputs, qsim_tensor* outputs, size_t num_outputs);

/* ---- Quantization ---------------------------------------------------------------- */

/** Progress of a long call. Return 0 to go on, a positive value to cancel (the call then
   returns QSIM_ERR_CANCELLED), a negative one when the callback itself failed (an exception
   a binding caught: the call returns QSIM_ERR_CALLBACK); either way the session is as it was
   before the call. total is -1 when unknown; message is never NULL. */
typedef int (*qsim_progress_fn)(void* user_data, int64_t done, int64_t total, const char* message);

/** Supplies calibration data one batch at a time: fill inputs[0..num_inputs) (in model input
   order, or named; the array is zeroed before each call) pointing at memory of the dtype the
   model declares for that input (float32 for most models) that stays valid until the next
   call, and return 1; return 0 when there is no more data, or a negative
   value when the reader failed (QSIM_ERR_CALLBACK).
   Every call taking a reader reads it from where it is: a reader qsim_calibrate drained gives
   nothing to qsim_adaround. Rewind or re-create your reader before each call; a
   qsim_data_source (below) is rewound by every call it is given to. */
typedef int (*qsim_data_reader_fn)(void* user_data, qsim_tensor* inputs, size_t num_inputs);

/* ---- Calibration data the library reads ------------------------------------------ */

/** A data reader qsim provides: pass qsim_data_source_read as the reader and the source as its
   user data. Every call that takes it starts from its first sample. The last batch may be
   smaller than batch_size. A source is used by one call at a time. */
typedef struct qsim_data_source qsim_data_source;

/** One .npy file per model input, in model input order, each of shape [N, ...] with the same
   N, in C order; dtypes float32, uint8, int8, int32, int64, bool (the model's input dtypes).
   The files are read batch_size rows at a time, so memory holds one batch whatever N.
   QSIM_ERR_IO (a file that cannot be opened) or QSIM_ERR_PARSE (not a .npy file, truncated)
   naming the file; QSIM_ERR_INVALID_ARGUMENT for differing N, batch_size < 1 or no file. */
QSIM_API qsim_status qsim_data_source_from_npy(const char* const* paths, size_t num_paths,
                                               int64_t batch_size,
                                               qsim_data_source** out_source);
/** arrays[i] holds input i's samples, shape [N, ...] with the same N (name is ignored:
   model input order). The data is copied: the caller's memory may be freed after the call
   (what garbage-collected callers need). */
QSIM_API qsim_status qsim_data_source_from_memory(const qsim_tensor* arrays, size_t num_arrays,
                                                  int64_t batch_size,
                                                  qsim_data_source** out_source);
/** Number of samples N. */
QSIM_API qsim_status qsim_data_source_samples(const qsim_data_source* source,
                                              int64_t* out_samples);
/** The qsim_data_reader_fn of a source (user_data is the qsim_data_source*). A read that fails
   (a file gone bad) returns -1 and the calling function's error names the file. */
QSIM_API int qsim_data_source_read(void* source, qsim_tensor* inputs, size_t num_inputs);
/** NULL is allowed. */
QSIM_API void qsim_data_source_destroy(qsim_data_source* source);

/** Computes weight encodings and calibrates activation encodings by streaming the reader's
   batches through the model. Memory does not grow with the number of batches. progress may
   be NULL; it is called after each batch with done = batches so far and total = -1 (only the
   reader knows how many will come). Encodings loaded with qsim_load_encodings stay frozen.
   A reader that gives no batch is QSIM_ERR_INVALID_ARGUMENT; NaN/Inf in the data is
   QSIM_ERR_NUMERIC under QSIM_NAN_REJECT. On any failure or cancellation the session keeps
   the encodings it had (none, or those of an earlier calibration or load). */
QSIM_API qsim_status qsim_calibrate(qsim_session* session, qsim_data_reader_fn reader,
                                    void* reader_data, qsim_progress_fn progress,
                                    void* progress_data);

/** Loads encodings (qsim FlatBuffers, or AIMET JSON 0.6.1 / 1.0.0, detected from the file)
   and freezes them; the session can then run quantized without calibration, or calibrate
   the tensors the file leaves out. A name the session does not quantize, or a grid that does
   not fit its tensor, is QSIM_ERR_INVALID_ARGUMENT naming it (a per-channel activation
   encoding, which qsim does not simulate, is QSIM_ERR_UNSUPPORTED); nothing is changed
   then. The file's target becomes the target of the session's encodings when the file gives
   weight encodings (later exports record it); a target other than qsim_options.target is
   noted by qsim_get_notes. */
QSIM_API qsim_status qsim_load_encodings(qsim_session* session, const char* path);

/* ---- SmoothQuant (docs/EQUALIZATION.md) ------------------------------------------ */

typedef struct qsim_smooth_quant_options {
  uint32_t struct_size; /**< sizeof(qsim_smooth_quant_options); set by the init function */
  double alpha;         /**< migration strength in [0, 1]; default 0.5 */
  int32_t num_samples;  /**< calibration samples measured (the reader's first ones), default 512 */
} qsim_smooth_quant_options;

QSIM_API qsim_status qsim_smooth_quant_options_init(qsim_smooth_quant_options* options,
                                                    uint32_t struct_size);

/** Migrates the activation outliers of every Gemm and MatMul with a constant weight into the
   weight (SmoothQuant): measures each such layer's input channel maxima on the reader's data
   (the float model after BN folding and CLE, as the session does them), then adds the
   transform after them. The float function stays the same; the exports record
   "smooth_quant". Call it before qsim_calibrate or qsim_load_encodings (QSIM_ERR_STATE after,
   the encodings would no longer fit), at most once (QSIM_ERR_STATE again).
   progress (may be NULL) is called after each batch with the samples measured and
   num_samples; returning nonzero cancels (QSIM_ERR_CANCELLED).
   QSIM_ERR_INVALID_ARGUMENT for alpha outside [0, 1], num_samples < 1 or a reader that gives
   no sample; QSIM_ERR_NUMERIC for NaN/Inf under QSIM_NAN_REJECT (QSIM_NAN_EXCLUDE drops those
   samples, as qsim_calibrate does). On failure or cancellation the session is as it was. */
QSIM_API qsim_status qsim_smooth_quant(qsim_session* session, qsim_data_reader_fn reader,
                                       void* reader_data, const qsim_smooth_quant_options* options,
                                       qsim_progress_fn progress, void* progress_data);

/* ---- AdaRound and AdaQuant: adaptive weight rounding (docs/ADAROUND.md) ----------- */

typedef enum qsim_adaround_mode QSIM_ENUM_BASE {
  QSIM_ADAROUND = 0, /**< learns whether each weight rounds up or down (AIMET's AdaRound) */
  QSIM_ADAQUANT = 1, /**< trains the weights through their fixed grids (Quark's AdaQuant) */
  QSIM_BIAS_CORRECTION = 2, /**< subtracts from each Conv, ConvTranspose and Gemm bias the mean
                               shift quantization gives its output channels on the calibration
                               data, layer by layer (AIMET's empirical bias correction;
                               docs/EQUALIZATION.md). Of the options, num_samples and
                               memory_budget_bytes apply. */
  QSIM_BIAS_CORRECTION_ANALYTICAL = 3, /**< as QSIM_BIAS_CORRECTION, but a layer whose input is a
                               folded BatchNormalization's output (through nothing, Relu or a
                               constant Clip) is corrected from that BN's statistics, as a
                               clipped normal variable (AIMET's analytical bias correction);
                               needs fold_batch_norm; the other layers are corrected
                               empirically, and the notes say which layer took which. */
  QSIM_ADAROUND_MODE_FORCE_INT32 = 0x7FFFFFFF
} qsim_adaround_mode;

/** Defaults are AIMET's for AdaRound and AMD Quark's fast finetune for AdaQuant. */
typedef struct qsim_adaround_options {
  uint32_t struct_size;    /**< sizeof(qsim_adaround_options); set by qsim_adaround_options_init */
  qsim_adaround_mode mode; /**< default QSIM_ADAROUND */
  int32_t num_iterations;  /**< AdaRound iterations per layer, default 10000 */
  int32_t num_samples;     /**< calibration samples read (the reader's first ones), default 1024 */
  int32_t batch_samples;   /**< samples drawn per iteration, default 32 */
  int32_t num_threads;     /**< 0 = the session's; results do not depend on it */
  uint64_t seed;           /**< of the draws: a seed gives bit-identical results; default 0 */
  uint64_t memory_budget_bytes;  /**< cached samples kept in memory up to this, then in an
                                    unlinked temporary file; default 512 MiB */
  double regularization;         /**< lambda of the rounding term, default 0.01 */
  double beta_start;             /**< the rounding term's beta decays from 20 ... */
  double beta_end;               /**< ... to 2 */
  double warm_start;             /**< share of iterations without the rounding term, default 0.2 */
  double learning_rate;          /**< AdaRound's Adam learning rate, default 1e-3 */
  double zeta;                   /**< rectified sigmoid stretch, default 1.1 ... */
  double gamma;                  /**< ... and -0.1 */
  int32_t adaquant_iterations;   /**< AdaQuant iterations per layer, default 1000 */
  int32_t adaquant_early_stop;   /**< stop a layer when its loss stops falling; default 0 */
  double adaquant_learning_rate; /**< default 1e-5 */
  int32_t adaquant_train_bias;   /**< also train per-channel biases; default 0 */
} qsim_adaround_options;

QSIM_API qsim_status qsim_adaround_options_init(qsim_adaround_options* options,
                                                uint32_t struct_size);

/** Optimizes the rounding (AdaRound) or the values (AdaQuant) of every Conv, ConvTranspose, Gemm
   and MatMul weight (or, with QSIM_BIAS_CORRECTION, corrects the biases), layer by layer in
   graph order, so that each layer's output after the activation that follows it matches the
   float model's on the reader's calibration data (batches as qsim_calibrate takes them). Weight
   encodings stay as they are and the weights land exactly on their grids; later exports carry
   them and record the technique with its options. Other layers with a quantized weight keep
   nearest rounding and are listed by qsim_get_notes. options may be NULL for defaults. progress
   is called while each layer's inputs are cached and after every iteration of every layer, with
   done and total iterations over all layers, and a last time (done == total) with a summary:
   "adaround: 10 layers, 1024 samples, 100000 iterations, 41.2 s, 1234.5 GFLOP, 50.1 GFLOP/s"
   (wall time of the caching and iterations; the iterations' matrix products over the iterations'
   own time). QSIM_ERR_STATE before qsim_calibrate or qsim_load_encodings has given every tensor
   an encoding; QSIM_ERR_INVALID_ARGUMENT for an option out of range or a reader that gives no
   sample; QSIM_ERR_NUMERIC for NaN/Inf in the data under QSIM_NAN_REJECT (QSIM_NAN_EXCLUDE drops
   those samples, as qsim_calibrate does); QSIM_ERR_CANCELLED when progress asks to stop. On any
   failure the session is as it was and stays usable. */
QSIM_API qsim_status qsim_adaround(qsim_session* session, qsim_data_reader_fn reader,
                                   void* reader_data, const qsim_adaround_options* options,
                                   qsim_progress_fn progress, void* progress_data);

typedef enum qsim_tensor_role QSIM_ENUM_BASE {
  QSIM_ROLE_MODEL_INPUT = 0,
  QSIM_ROLE_ACTIVATION = 1,
  QSIM_ROLE_WEIGHT = 2,
  QSIM_ROLE_BIAS = 3,
  QSIM_TENSOR_ROLE_FORCE_INT32 = 0x7FFFFFFF
} qsim_tensor_role;

typedef enum qsim_symmetry QSIM_ENUM_BASE {
  QSIM_ASYMMETRIC = 0,
  QSIM_SYMMETRIC = 1,          /**< offset -2^(bw-1) */
  QSIM_STRICT_SYMMETRIC = 2,   /**< offset -(2^(bw-1)-1) */
  QSIM_UNSIGNED_SYMMETRIC = 3, /**< offset 0 for non-negative tensors */
  QSIM_SYMMETRY_FORCE_INT32 = 0x7FFFFFFF
} qsim_symmetry;

/** One quantized (or deliberately float) tensor. Encodings follow AIMET's convention:
   q = clamp(round(x / scale) - offset, 0, 2^bitwidth - 1), x = (q + offset) * scale. */
typedef struct qsim_encoding_info {
  uint32_t struct_size;
  const char* name; /**< ONNX tensor name; valid as long as the session */
  qsim_tensor_role role;
  int32_t quantized; /**< 0: kept float */
  int32_t bitwidth;  /**< 2..16, 32 for int32 biases; 16 or 32 for float tensors */
  qsim_symmetry symmetry;
  int32_t axis; /**< -1 per tensor, else the channel axis */
  size_t num_channels;
  int64_t excluded_values; /**< NaN/Inf values the last calibration left out (QSIM_NAN_EXCLUDE) */
} qsim_encoding_info;

/** Number of encodings after calibration or loading (0 before): activations (model inputs and
   op outputs, in graph order), then weights and biases. */
QSIM_API qsim_status qsim_encoding_count(const qsim_session* session, size_t* out_count);
/** Set out_info->struct_size = sizeof(qsim_encoding_info) before the call. QSIM_ERR_STATE
   before calibration or loading. */
QSIM_API qsim_status qsim_get_encoding(const qsim_session* session, size_t index,
                                       qsim_encoding_info* out_info);
/** Scales and offsets of encoding `index`, capacity entries at most. When num_channels exceeds
   capacity nothing is written and the call returns QSIM_ERR_BUFFER_TOO_SMALL. */
QSIM_API qsim_status qsim_get_encoding_channels(const qsim_session* session, size_t index,
                                                float* scales, int32_t* offsets, size_t capacity);

/** Remarks on the session's quantization, one per line, the first always "techniques applied,
   in order: ..." (each with its options, or their count; "none" when none was): then
   configuration entries the model does not use, parameters kept float and why, what each
   technique left alone or did per layer, NaN/Inf values calibration excluded, loaded files
   made for another target, bias values the last export clipped. Free the string with
   qsim_free. */
QSIM_API qsim_status qsim_get_notes(qsim_session* session, char** out_text);

typedef enum qsim_export_format QSIM_ENUM_BASE {
  QSIM_EXPORT_ENCODINGS_FBS = 1,    /**< BASENAME.encodings.fbs, qsim's FlatBuffers format */
  QSIM_EXPORT_AIMET_JSON_0_6_1 = 2, /**< BASENAME.encodings.json */
  QSIM_EXPORT_AIMET_JSON_1_0_0 = 4, /**< BASENAME.encodings.v1.json */
  QSIM_EXPORT_ONNX_ROUNDED = 8,     /**< BASENAME.onnx: float model with weights on their grid */
  QSIM_EXPORT_ONNX_QDQ = 16,        /**< BASENAME.qdq.onnx: QuantizeLinear/DequantizeLinear model */
  QSIM_EXPORT_ALL = 31,
  QSIM_EXPORT_FORMAT_FORCE_INT32 = 0x7FFFFFFF
} qsim_export_format;

/** The QDQ model's 16-bit QuantizeLinear/DequantizeLinear (16-bit activations, 9- to 16-bit
   weights). 8-bit ones are always standard ONNX, opset 13 or the model's. */
typedef enum qsim_qdq_wide_form QSIM_ENUM_BASE {
  QSIM_QDQ_WIDE_MICROSOFT = 0, /**< ONNX Runtime's com.microsoft ops at the model's opset (default) */
  QSIM_QDQ_WIDE_OPSET21 = 1,   /**< standard ops, the model raised to opset 21: QSIM_ERR_UNSUPPORTED
                                  when one of its ops changed its inputs on the way */
  QSIM_QDQ_WIDE_FORM_FORCE_INT32 = 0x7FFFFFFF
} qsim_qdq_wide_form;

typedef struct qsim_export_options {
  uint32_t struct_size;
  uint32_t formats;             /**< qsim_export_format bits; default QSIM_EXPORT_ALL */
  const char* basename;         /**< file name stem; default "model" */
  int32_t qdq_int8_activations; /**< QDQ activations on a signed grid (int8 / int16); default 0
                                   (uint8 / uint16) */
  int32_t qdq_wide_form;        /**< qsim_qdq_wide_form: how 16-bit Q/DQ are written */
} qsim_export_options;

QSIM_API qsim_status qsim_export_options_init(qsim_export_options* options, uint32_t struct_size);

/** Writes the chosen files into out_dir (created if missing). Each format is built on its
   own: one that cannot be built (e.g. a QDQ model for an op whose older-opset form qsim cannot
   upgrade) is skipped and never keeps the others from being written. The files that were
   built are first written under a temporary name, then all renamed into place; when writing
   fails, none of them (and no folder the call created) is left behind.
   Returns QSIM_OK when every chosen format was written; QSIM_ERR_INCOMPLETE when some were
   written and others skipped (the message and qsim_get_notes name each skipped file and the
   reason; qsim_exported_formats tells which were written); the first skipped format's error
   when none could be built (nothing written). QSIM_ERR_STATE until every quantized tensor has
   an encoding; QSIM_ERR_INVALID_ARGUMENT when a file would overwrite the session's model. */
QSIM_API qsim_status qsim_export(qsim_session* session, const char* out_dir,
                                 const qsim_export_options* options);

/** The qsim_export_format bits that the session's last qsim_export wrote: 0 before any export
   and after one that wrote nothing. */
QSIM_API qsim_status qsim_exported_formats(qsim_session* session, uint32_t* out_formats);

/* ---- Inspection ------------------------------------------------------------------ */

typedef enum qsim_text_format QSIM_ENUM_BASE {
  QSIM_FORMAT_TEXT = 0,
  QSIM_FORMAT_JSON = 1,
  QSIM_TEXT_FORMAT_FORCE_INT32 = 0x7FFFFFFF
} qsim_text_format;

/** A description of the model at model_path (inputs, outputs, op counts, parameter count,
   unsupported ops), as text or JSON. Works for models with unsupported ops. Free the
   string with qsim_free. */
QSIM_API qsim_status qsim_describe_model(const char* model_path, qsim_text_format format,
                                         char** out_text);
QSIM_API void qsim_free(void* pointer);

#ifdef __cplusplus
}
#endif

#endif /* QSIM_QSIM_H */
