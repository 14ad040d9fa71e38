/* qsim_encodings_reader: reads qsim's FlatBuffers encodings files (schemas/qsim_encodings.fbs)
 * on target, without a JSON parser, a FlatBuffers library or malloc.
 *
 * C99, no dependencies beyond <stddef.h> and <stdint.h>. Every value is read in place from the
 * caller's buffer, byte by byte in little-endian order, so the buffer needs no alignment and
 * the code runs on big-endian targets too. The buffer must outlive the file handle and every
 * tensor read from it.
 *
 *   qsim_enc_file file;
 *   if (qsim_enc_open(&file, bytes, size) != QSIM_ENC_OK) ... reject the file ...
 *   for (uint32_t i = 0; i < qsim_enc_tensor_count(&file); ++i) {
 *     qsim_enc_tensor t;
 *     qsim_enc_get_tensor(&file, i, &t);
 *     for (uint32_t c = 0; c < t.channel_count; ++c) {
 *       qsim_enc_channel ch;
 *       qsim_enc_get_channel(&t, c, &ch);   quantize with ch.scale and ch.offset:
 *     }                                     q = clamp(round(x / scale) - offset, 0, 2^bw - 1)
 *   }
 *
 * qsim_enc_open verifies the whole buffer once (every table, vtable, vector and string is
 * bounds-checked as FlatBuffers' own verifier does, plus qsim's rules: known enum values,
 * matching scale and offset counts, finite positive scales, sane bit widths, a known target), so
 * the getters after a successful open cannot read outside the buffer. */
#ifndef QSIM_ENCODINGS_READER_H
#define QSIM_ENCODINGS_READER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QSIM_ENC_FILE_IDENTIFIER "QSEN"
#define QSIM_ENC_SCHEMA_VERSION 1u

typedef enum {
  QSIM_ENC_OK = 0,
  QSIM_ENC_ERR_ARGUMENT = 1,   /* a NULL pointer */
  QSIM_ENC_ERR_TOO_SMALL = 2,  /* fewer bytes than a FlatBuffers header */
  QSIM_ENC_ERR_IDENTIFIER = 3, /* not a qsim encodings file */
  QSIM_ENC_ERR_CORRUPT = 4,    /* an offset, table, vector or string outside the buffer, or
                                  more channels than the buffer has bytes for (8 each) */
  QSIM_ENC_ERR_VERSION = 5,    /* a schema version this reader does not know */
  QSIM_ENC_ERR_INVALID = 6,    /* well-formed, but a value breaks qsim's rules */
  QSIM_ENC_ERR_RANGE = 7,      /* tensor or channel index out of range */
  QSIM_ENC_ERR_NOT_FOUND = 8   /* no tensor of that name */
} qsim_enc_status;

typedef enum {
  QSIM_ENC_ROLE_MODEL_INPUT = 0,
  QSIM_ENC_ROLE_ACTIVATION = 1,
  QSIM_ENC_ROLE_WEIGHT = 2,
  QSIM_ENC_ROLE_BIAS = 3
} qsim_enc_role;

typedef enum {
  QSIM_ENC_DTYPE_INT = 0,  /* quantized: channels hold the grid */
  QSIM_ENC_DTYPE_FLOAT = 1 /* left in floating point (bitwidth 16 or 32), no channels */
} qsim_enc_dtype;

typedef enum {
  QSIM_ENC_ASYMMETRIC = 0,
  QSIM_ENC_SYMMETRIC = 1,         /* offset -2^(bw-1) */
  QSIM_ENC_STRICT_SYMMETRIC = 2,  /* offset -(2^(bw-1) - 1) */
  QSIM_ENC_UNSIGNED_SYMMETRIC = 3 /* offset 0 (non-negative channels) or -2^(bw-1) */
} qsim_enc_symmetry;

/* The integer arithmetic of the runtime the encodings were made for (docs/TARGETS.md). */
typedef enum {
  QSIM_ENC_TARGET_EXACT = 0,   /* exact integer sums (also files written before the field) */
  QSIM_ENC_TARGET_ORT_AVX2 = 1 /* ONNX Runtime's x86 U8S8 kernels without VNNI */
} qsim_enc_target;

/* An opened file. Fields are private: use the functions below. */
typedef struct {
  const uint8_t* data;
  uint32_t size;
  uint32_t root;    /* position of the root table */
  uint32_t tensors; /* position of the tensors vector, 0 when there is none */
} qsim_enc_file;

/* One tensor's encoding. Strings point into the buffer and are NUL-terminated UTF-8. */
typedef struct {
  const char* name;
  uint32_t name_length;
  qsim_enc_role role;
  qsim_enc_dtype dtype;
  int32_t bitwidth;
  qsim_enc_symmetry symmetry;
  int32_t axis;           /* -1: per tensor; else the channel axis */
  uint32_t channel_count; /* 0 for float tensors, 1 per tensor, else one per channel */
  /* private: positions of the per-channel arrays in the buffer (0: absent) */
  const uint8_t* data_;
  uint32_t scales_, offsets_, min_, max_;
} qsim_enc_tensor;

typedef struct {
  float scale;
  int32_t offset;
  float min; /* offset * scale */
  float max; /* (offset + 2^bw - 1) * scale */
} qsim_enc_channel;

/* Verifies `data` (see above) and fills `file`. */
qsim_enc_status qsim_enc_open(qsim_enc_file* file, const void* data, size_t size);

uint32_t qsim_enc_schema_version(const qsim_enc_file* file);
/* "" when the file does not say. */
const char* qsim_enc_producer_version(const qsim_enc_file* file);
/* sha256 of the source model, lowercase hex; "" when the file does not say. */
const char* qsim_enc_model_fingerprint(const qsim_enc_file* file);

/* The file's target; QSIM_ENC_TARGET_EXACT when the file does not say. */
qsim_enc_target qsim_enc_get_target(const qsim_enc_file* file);

uint32_t qsim_enc_tensor_count(const qsim_enc_file* file);
qsim_enc_status qsim_enc_get_tensor(const qsim_enc_file* file, uint32_t index,
                                    qsim_enc_tensor* tensor);
/* Looks a tensor up by its ONNX name (a linear scan). */
qsim_enc_status qsim_enc_find_tensor(const qsim_enc_file* file, const char* name,
                                     qsim_enc_tensor* tensor);
qsim_enc_status qsim_enc_get_channel(const qsim_enc_tensor* tensor, uint32_t channel,
                                     qsim_enc_channel* out);

/* A short English description of a status, for logs. */
const char* qsim_enc_status_string(qsim_enc_status status);

#ifdef __cplusplus
}
#endif

#endif /* QSIM_ENCODINGS_READER_H */
