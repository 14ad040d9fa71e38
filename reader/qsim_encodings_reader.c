/* A verifying reader for qsim's FlatBuffers encodings files; see qsim_encodings_reader.h.
 *
 * FlatBuffers layout, as far as this reader needs it (all little-endian):
 *   buffer: u32 offset of the root table, then the 4-byte file identifier.
 *   table:  i32 at the table's position; the vtable is at (table position - that value).
 *   vtable: u16 vtable size in bytes, u16 table size, then one u16 per field: the field's
 *           offset from the table's position, 0 (or beyond the vtable) when absent.
 *   offset fields (tables, vectors, strings) hold a u32 relative to the field's own position.
 *   vector: u32 element count, then the elements; a vector of tables holds u32 offsets.
 *   string: a vector of bytes followed by a NUL.
 * Absent scalar fields take the schema's default. */
#include "qsim_encodings_reader.h"

#include <float.h>

/* Largest buffer FlatBuffers allows (offsets are signed 32-bit). */
#define MAX_BUFFER_SIZE 0x7fffffffu

/* Field slots, in schema order (schemas/qsim_encodings.fbs). */
enum {
  ROOT_SCHEMA_VERSION,
  ROOT_PRODUCER,
  ROOT_FINGERPRINT,
  ROOT_TENSORS,
  ROOT_QUANTIZER_ARGS,
  ROOT_TECHNIQUES,
  ROOT_EXCLUDED_LAYERS,
  ROOT_TARGET
};
enum {
  TENSOR_NAME,
  TENSOR_ROLE,
  TENSOR_DTYPE,
  TENSOR_BITWIDTH,
  TENSOR_SYMMETRY,
  TENSOR_AXIS,
  TENSOR_SCALES,
  TENSOR_OFFSETS,
  TENSOR_MIN,
  TENSOR_MAX
};
enum { OPTION_KEY, OPTION_VALUE };
enum { TECHNIQUE_NAME, TECHNIQUE_OPTIONS };
enum {
  ARGS_ACTIVATION_BITWIDTH,
  ARGS_PARAM_BITWIDTH,
  ARGS_PER_CHANNEL,
  ARGS_ACTIVATION_SYMMETRIC,
  ARGS_PARAM_SYMMETRIC,
  ARGS_QUANT_SCHEME
};

/* Schema defaults of the TensorEncoding scalars. */
#define DEFAULT_ROLE QSIM_ENC_ROLE_ACTIVATION
#define DEFAULT_DTYPE QSIM_ENC_DTYPE_INT
#define DEFAULT_BITWIDTH 8
#define DEFAULT_SYMMETRY QSIM_ENC_SYMMETRIC
#define DEFAULT_AXIS (-1)

typedef struct {
  const uint8_t* data;
  uint32_t size;
} buffer;

typedef struct {
  uint32_t pos;
  uint32_t vtable;
  uint32_t vtable_size;
} table;

static uint32_t read_u32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint32_t read_u16(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static int32_t read_i32(const uint8_t* p) {
  uint32_t u = read_u32(p);
  /* Two's complement without implementation-defined conversions. */
  return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1;
}

static float read_f32(const uint8_t* p) {
  union {
    uint32_t bits;
    float value;
  } v;
  v.bits = read_u32(p);
  return v.value;
}

static int in_bounds(const buffer* b, uint64_t pos, uint64_t length) {
  return length <= b->size && pos <= b->size - length;
}

static int aligned(uint64_t pos, uint32_t alignment) {
  return (pos & (alignment - 1u)) == 0;
}

/* --- structure ------------------------------------------------------------------------- */

/* On failure `t` is an empty table (no fields), so a caller that goes on reads defaults. */
static int open_table(const buffer* b, uint32_t pos, table* t) {
  int64_t vtable;
  t->pos = t->vtable = t->vtable_size = 0;
  if (!aligned(pos, 4) || !in_bounds(b, pos, 4)) return 0;
  vtable = (int64_t)pos - (int64_t)read_i32(b->data + pos);
  if (vtable < 0 || !aligned((uint64_t)vtable, 2) || !in_bounds(b, (uint64_t)vtable, 2)) return 0;
  if ((read_u16(b->data + vtable) & 1u) != 0 ||
      !in_bounds(b, (uint64_t)vtable, read_u16(b->data + vtable)))
    return 0;
  t->pos = pos;
  t->vtable = (uint32_t)vtable;
  t->vtable_size = read_u16(b->data + vtable);
  return 1;
}

/* Position of field `slot`, or 0 when the table does not hold it. */
static uint64_t field_pos(const buffer* b, const table* t, unsigned slot) {
  uint32_t entry = 4u + 2u * slot;
  uint32_t offset;
  if (entry + 2u > t->vtable_size) return 0;
  offset = read_u16(b->data + t->vtable + entry);
  return offset ? (uint64_t)t->pos + offset : 0;
}

static int scalar_ok(const buffer* b, const table* t, unsigned slot, uint32_t size) {
  uint64_t pos = field_pos(b, t, slot);
  return pos == 0 || (aligned(pos, size) && in_bounds(b, pos, size));
}

/* Follows the u32 offset stored at `pos` (never 0 itself); 0 when it leads outside the
 * buffer. As in FlatBuffers' verifier, a field's offset may not be 0 but a vector element's
 * may (the element's own table or string then fails its checks or is empty). */
static uint32_t follow_at(const buffer* b, uint64_t pos, int is_field) {
  uint32_t offset;
  uint64_t target;
  if (!aligned(pos, 4) || !in_bounds(b, pos, 4)) return 0;
  offset = read_u32(b->data + pos);
  target = pos + offset;
  if ((is_field && offset == 0) || offset > MAX_BUFFER_SIZE || !in_bounds(b, target, 1)) return 0;
  return (uint32_t)target;
}

static uint32_t vector_element(const buffer* b, uint32_t vector, uint32_t index) {
  return follow_at(b, (uint64_t)vector + 4u + 4u * (uint64_t)index, 0);
}

/* Target of offset field `slot`: 1 with *target = 0 when absent, 0 when corrupt. */
static int follow_field(const buffer* b, const table* t, unsigned slot, uint32_t* target) {
  uint64_t pos = field_pos(b, t, slot);
  *target = pos ? follow_at(b, pos, 1) : 0;
  return pos == 0 || *target != 0;
}

static int vector_ok(const buffer* b, uint32_t pos, uint32_t element_size, uint32_t* count) {
  if (!aligned(pos, 4) || !in_bounds(b, pos, 4)) return 0;
  *count = read_u32(b->data + pos);
  return *count < MAX_BUFFER_SIZE / element_size &&
         in_bounds(b, pos, 4u + (uint64_t)*count * element_size);
}

static int string_ok(const buffer* b, uint32_t pos) {
  uint32_t length;
  return vector_ok(b, pos, 1, &length) && in_bounds(b, (uint64_t)pos + 4u + length, 1) &&
         b->data[pos + 4u + length] == 0;
}

static int string_field_ok(const buffer* b, const table* t, unsigned slot, int required) {
  uint32_t pos;
  if (!follow_field(b, t, slot, &pos)) return 0;
  return pos ? string_ok(b, pos) : !required;
}

/* A vector of 4-byte scalars; *pos = 0 and *count = 0 when absent. */
static int scalar_vector_field_ok(const buffer* b, const table* t, unsigned slot, uint32_t* pos,
                                  uint32_t* count) {
  *count = 0;
  if (!follow_field(b, t, slot, pos)) return 0;
  return *pos == 0 || vector_ok(b, *pos, 4, count);
}

typedef int (*element_check)(const buffer* b, uint32_t pos);

/* A vector of offsets to tables or strings, each checked by `check`. */
static int offset_vector_field_ok(const buffer* b, const table* t, unsigned slot,
                                  element_check check) {
  uint32_t pos, count, i;
  if (!follow_field(b, t, slot, &pos)) return 0;
  if (pos == 0) return 1;
  if (!vector_ok(b, pos, 4, &count)) return 0;
  for (i = 0; i < count; ++i) {
    uint32_t element = vector_element(b, pos, i);
    if (element == 0 || !check(b, element)) return 0;
  }
  return 1;
}

static int option_ok(const buffer* b, uint32_t pos) {
  table t;
  return open_table(b, pos, &t) && string_field_ok(b, &t, OPTION_KEY, 1) &&
         string_field_ok(b, &t, OPTION_VALUE, 0);
}

static int technique_ok(const buffer* b, uint32_t pos) {
  table t;
  return open_table(b, pos, &t) && string_field_ok(b, &t, TECHNIQUE_NAME, 1) &&
         offset_vector_field_ok(b, &t, TECHNIQUE_OPTIONS, option_ok);
}

static int quantizer_args_ok(const buffer* b, uint32_t pos) {
  table t;
  return open_table(b, pos, &t) && scalar_ok(b, &t, ARGS_ACTIVATION_BITWIDTH, 4) &&
         scalar_ok(b, &t, ARGS_PARAM_BITWIDTH, 4) && scalar_ok(b, &t, ARGS_PER_CHANNEL, 1) &&
         scalar_ok(b, &t, ARGS_ACTIVATION_SYMMETRIC, 1) &&
         scalar_ok(b, &t, ARGS_PARAM_SYMMETRIC, 1) && string_field_ok(b, &t, ARGS_QUANT_SCHEME, 0);
}

static int tensor_structure_ok(const buffer* b, uint32_t pos) {
  table t;
  uint32_t vector, count;
  return open_table(b, pos, &t) && string_field_ok(b, &t, TENSOR_NAME, 1) &&
         scalar_ok(b, &t, TENSOR_ROLE, 1) && scalar_ok(b, &t, TENSOR_DTYPE, 1) &&
         scalar_ok(b, &t, TENSOR_BITWIDTH, 4) && scalar_ok(b, &t, TENSOR_SYMMETRY, 1) &&
         scalar_ok(b, &t, TENSOR_AXIS, 4) &&
         scalar_vector_field_ok(b, &t, TENSOR_SCALES, &vector, &count) &&
         scalar_vector_field_ok(b, &t, TENSOR_OFFSETS, &vector, &count) &&
         scalar_vector_field_ok(b, &t, TENSOR_MIN, &vector, &count) &&
         scalar_vector_field_ok(b, &t, TENSOR_MAX, &vector, &count);
}

/* --- values ---------------------------------------------------------------------------- */

static int32_t i8_field(const buffer* b, const table* t, unsigned slot, int32_t fallback) {
  uint64_t pos = field_pos(b, t, slot);
  return pos ? (int32_t)(int8_t)b->data[pos] : fallback;
}

static int32_t i32_field(const buffer* b, const table* t, unsigned slot, int32_t fallback) {
  uint64_t pos = field_pos(b, t, slot);
  return pos ? read_i32(b->data + pos) : fallback;
}

/* The string an already verified offset field points to; "" when absent. */
static const char* string_field(const buffer* b, const table* t, unsigned slot, uint32_t* length) {
  uint32_t pos;
  follow_field(b, t, slot, &pos);
  if (length) *length = pos ? read_u32(b->data + pos) : 0;
  return pos ? (const char*)(b->data + pos + 4) : "";
}

static uint32_t vector_field(const buffer* b, const table* t, unsigned slot, uint32_t* count) {
  uint32_t pos;
  follow_field(b, t, slot, &pos);
  *count = pos ? read_u32(b->data + pos) : 0;
  return pos;
}

/* Reads a structurally verified tensor table; 0 when its enum values are unknown. */
static int read_tensor(const buffer* b, uint32_t pos, qsim_enc_tensor* out) {
  table t;
  int32_t role, dtype, symmetry;
  uint32_t scale_count, offset_count, min_count, max_count;
  open_table(b, pos, &t);
  role = i8_field(b, &t, TENSOR_ROLE, DEFAULT_ROLE);
  dtype = i8_field(b, &t, TENSOR_DTYPE, DEFAULT_DTYPE);
  symmetry = i8_field(b, &t, TENSOR_SYMMETRY, DEFAULT_SYMMETRY);
  /* Float tensors have no grid, so their symmetry field is not looked at. */
  if (role < 0 || role > 3 || dtype < 0 || dtype > 1) return 0;
  if (dtype == QSIM_ENC_DTYPE_INT && (symmetry < 0 || symmetry > 3)) return 0;
  out->name = string_field(b, &t, TENSOR_NAME, &out->name_length);
  out->role = (qsim_enc_role)role;
  out->dtype = (qsim_enc_dtype)dtype;
  out->symmetry = (qsim_enc_symmetry)symmetry;
  out->bitwidth = i32_field(b, &t, TENSOR_BITWIDTH, DEFAULT_BITWIDTH);
  out->axis = i32_field(b, &t, TENSOR_AXIS, DEFAULT_AXIS);
  out->data_ = b->data;
  out->scales_ = vector_field(b, &t, TENSOR_SCALES, &scale_count);
  out->offsets_ = vector_field(b, &t, TENSOR_OFFSETS, &offset_count);
  out->min_ = vector_field(b, &t, TENSOR_MIN, &min_count);
  out->max_ = vector_field(b, &t, TENSOR_MAX, &max_count);
  out->channel_count = out->dtype == QSIM_ENC_DTYPE_INT ? scale_count : 0;
  /* Every per-channel array present holds one value per channel. */
  return out->dtype == QSIM_ENC_DTYPE_FLOAT ||
         (offset_count == scale_count && (!out->min_ || min_count == scale_count) &&
          (!out->max_ || max_count == scale_count));
}

static int bitwidth_ok(const qsim_enc_tensor* t) {
  if (t->dtype == QSIM_ENC_DTYPE_FLOAT) return t->bitwidth == 16 || t->bitwidth == 32;
  return (t->bitwidth >= 2 && t->bitwidth <= 16) ||
         (t->bitwidth == 32 && t->role == QSIM_ENC_ROLE_BIAS);
}

static int offset_ok(int64_t offset, qsim_enc_symmetry symmetry, int32_t bitwidth) {
  int64_t half = (int64_t)1 << (bitwidth - 1);
  switch (symmetry) {
    case QSIM_ENC_ASYMMETRIC:
      return offset <= 0 && offset >= -(2 * half - 1);
    case QSIM_ENC_SYMMETRIC:
      return offset == -half;
    case QSIM_ENC_STRICT_SYMMETRIC:
      return offset == -(half - 1);
    case QSIM_ENC_UNSIGNED_SYMMETRIC:
      return offset == 0 || offset == -half;
  }
  return 0;
}

/* Finite, positive, not NaN: checked on the bits, no floating-point traps. */
static int scale_ok(uint32_t bits) {
  return (bits >> 31) == 0 && ((bits >> 23) & 0xffu) != 0xffu && bits != 0;
}

/* Doubles at or beyond this round to infinity as floats (FLT_MAX plus half its ulp). */
#define FLOAT_OVERFLOW ((double)FLT_MAX + 0x1p103)

static double grid_levels(int32_t bitwidth) {
  return (double)(((uint64_t)1 << bitwidth) - 1u);
}

static int float_in_range(double value) {
  return value < FLOAT_OVERFLOW && value > -FLOAT_OVERFLOW;
}

static int tensor_values_ok(const qsim_enc_tensor* t) {
  uint32_t c;
  if (t->name_length == 0 || !bitwidth_ok(t)) return 0;
  if (t->dtype == QSIM_ENC_DTYPE_FLOAT) return 1;
  if (t->channel_count == 0 || t->axis < -1 || (t->axis == -1 && t->channel_count != 1)) return 0;
  for (c = 0; c < t->channel_count; ++c) {
    uint32_t scale_bits = read_u32(t->data_ + t->scales_ + 4u + 4u * c);
    int32_t offset = read_i32(t->data_ + t->offsets_ + 4u + 4u * c);
    double scale = read_f32(t->data_ + t->scales_ + 4u + 4u * c);
    if (!scale_ok(scale_bits) || !offset_ok(offset, t->symmetry, t->bitwidth)) return 0;
    if (!float_in_range(offset * scale) ||
        !float_in_range((offset + grid_levels(t->bitwidth)) * scale))
      return 0;
  }
  return 1;
}

/* Checks one tensor; `channels_left` is the number of channels the rest of the file may still
   hold. Tables, vectors and strings may be shared by many offsets, so a small file could list
   any number of channels: each channel checked must be backed by its own 8 bytes (a scale and
   an offset), which keeps the work within the file's size. */
static qsim_enc_status check_tensor(const buffer* b, uint32_t pos, uint32_t* channels_left) {
  qsim_enc_tensor t;
  if (!tensor_structure_ok(b, pos)) return QSIM_ENC_ERR_CORRUPT;
  if (!read_tensor(b, pos, &t)) return QSIM_ENC_ERR_INVALID;
  if (t.channel_count > *channels_left) return QSIM_ENC_ERR_CORRUPT;
  *channels_left -= t.channel_count;
  return tensor_values_ok(&t) ? QSIM_ENC_OK : QSIM_ENC_ERR_INVALID;
}

/* --- the file -------------------------------------------------------------------------- */

static buffer buffer_of(const qsim_enc_file* file) {
  buffer b;
  b.data = file->data;
  b.size = file->size;
  return b;
}

static qsim_enc_status check_tensors(const buffer* b, uint32_t vector) {
  uint32_t count, i, channels_left = b->size / 8u;
  if (!vector_ok(b, vector, 4, &count)) return QSIM_ENC_ERR_CORRUPT;
  for (i = 0; i < count; ++i) {
    uint32_t element = vector_element(b, vector, i);
    qsim_enc_status status =
        element ? check_tensor(b, element, &channels_left) : QSIM_ENC_ERR_CORRUPT;
    if (status != QSIM_ENC_OK) return status;
  }
  return QSIM_ENC_OK;
}

static int has_identifier(const uint8_t* data) {
  const char* id = QSIM_ENC_FILE_IDENTIFIER;
  return data[4] == (uint8_t)id[0] && data[5] == (uint8_t)id[1] && data[6] == (uint8_t)id[2] &&
         data[7] == (uint8_t)id[3];
}

/* The rest of the root table: everything but the tensors. */
static int root_fields_ok(const buffer* b, const table* root) {
  uint32_t args;
  return scalar_ok(b, root, ROOT_TARGET, 1) && string_field_ok(b, root, ROOT_PRODUCER, 0) &&
         string_field_ok(b, root, ROOT_FINGERPRINT, 0) &&
         follow_field(b, root, ROOT_QUANTIZER_ARGS, &args) &&
         (args == 0 || quantizer_args_ok(b, args)) &&
         offset_vector_field_ok(b, root, ROOT_TECHNIQUES, technique_ok) &&
         offset_vector_field_ok(b, root, ROOT_EXCLUDED_LAYERS, string_ok);
}

qsim_enc_status qsim_enc_open(qsim_enc_file* file, const void* data, size_t size) {
  buffer b;
  table root;
  uint32_t root_pos, tensors;
  int32_t target;
  if (!file || !data) return QSIM_ENC_ERR_ARGUMENT;
  if (size < 8) return QSIM_ENC_ERR_TOO_SMALL;
  if (size >= MAX_BUFFER_SIZE) return QSIM_ENC_ERR_CORRUPT;
  b.data = (const uint8_t*)data;
  b.size = (uint32_t)size;
  if (!has_identifier(b.data)) return QSIM_ENC_ERR_IDENTIFIER;
  root_pos = follow_at(&b, 0, 1);
  if (!root_pos || !open_table(&b, root_pos, &root) ||
      !scalar_ok(&b, &root, ROOT_SCHEMA_VERSION, 4))
    return QSIM_ENC_ERR_CORRUPT;
  if ((uint32_t)i32_field(&b, &root, ROOT_SCHEMA_VERSION, 0) != QSIM_ENC_SCHEMA_VERSION)
    return QSIM_ENC_ERR_VERSION;
  if (!root_fields_ok(&b, &root) || !follow_field(&b, &root, ROOT_TENSORS, &tensors))
    return QSIM_ENC_ERR_CORRUPT;
  target = i8_field(&b, &root, ROOT_TARGET, QSIM_ENC_TARGET_EXACT);
  if (target < QSIM_ENC_TARGET_EXACT || target > QSIM_ENC_TARGET_ORT_AVX2)
    return QSIM_ENC_ERR_INVALID;
  if (tensors) {
    qsim_enc_status status = check_tensors(&b, tensors);
    if (status != QSIM_ENC_OK) return status;
  }
  file->data = b.data;
  file->size = b.size;
  file->root = root_pos;
  file->tensors = tensors;
  return QSIM_ENC_OK;
}

uint32_t qsim_enc_schema_version(const qsim_enc_file* file) {
  buffer b;
  table root;
  if (!file) return 0;
  b = buffer_of(file);
  open_table(&b, file->root, &root);
  return (uint32_t)i32_field(&b, &root, ROOT_SCHEMA_VERSION, 0);
}

static const char* root_string(const qsim_enc_file* file, unsigned slot) {
  buffer b;
  table root;
  if (!file) return "";
  b = buffer_of(file);
  open_table(&b, file->root, &root);
  return string_field(&b, &root, slot, 0);
}

const char* qsim_enc_producer_version(const qsim_enc_file* file) {
  return root_string(file, ROOT_PRODUCER);
}

const char* qsim_enc_model_fingerprint(const qsim_enc_file* file) {
  return root_string(file, ROOT_FINGERPRINT);
}

qsim_enc_target qsim_enc_get_target(const qsim_enc_file* file) {
  buffer b;
  table root;
  if (!file) return QSIM_ENC_TARGET_EXACT;
  b = buffer_of(file);
  open_table(&b, file->root, &root);
  return (qsim_enc_target)i8_field(&b, &root, ROOT_TARGET, QSIM_ENC_TARGET_EXACT);
}

uint32_t qsim_enc_tensor_count(const qsim_enc_file* file) {
  return file && file->tensors ? read_u32(file->data + file->tensors) : 0;
}

qsim_enc_status qsim_enc_get_tensor(const qsim_enc_file* file, uint32_t index,
                                    qsim_enc_tensor* tensor) {
  buffer b;
  if (!file || !tensor) return QSIM_ENC_ERR_ARGUMENT;
  if (index >= qsim_enc_tensor_count(file)) return QSIM_ENC_ERR_RANGE;
  b = buffer_of(file);
  read_tensor(&b, vector_element(&b, file->tensors, index), tensor);
  return QSIM_ENC_OK;
}

static int name_equals(const qsim_enc_tensor* t, const char* name) {
  uint32_t i;
  for (i = 0; i < t->name_length; ++i)
    if (name[i] != t->name[i] || name[i] == '\0') return 0;
  return name[t->name_length] == '\0';
}

qsim_enc_status qsim_enc_find_tensor(const qsim_enc_file* file, const char* name,
                                     qsim_enc_tensor* tensor) {
  uint32_t i, count;
  if (!file || !name || !tensor) return QSIM_ENC_ERR_ARGUMENT;
  count = qsim_enc_tensor_count(file);
  for (i = 0; i < count; ++i) {
    qsim_enc_get_tensor(file, i, tensor);
    if (name_equals(tensor, name)) return QSIM_ENC_OK;
  }
  return QSIM_ENC_ERR_NOT_FOUND;
}

qsim_enc_status qsim_enc_get_channel(const qsim_enc_tensor* tensor, uint32_t channel,
                                     qsim_enc_channel* out) {
  uint32_t at;
  if (!tensor || !out) return QSIM_ENC_ERR_ARGUMENT;
  if (channel >= tensor->channel_count) return QSIM_ENC_ERR_RANGE;
  at = 4u + 4u * channel;
  out->scale = read_f32(tensor->data_ + tensor->scales_ + at);
  out->offset = read_i32(tensor->data_ + tensor->offsets_ + at);
  /* The same arithmetic as qsim's ChannelEncoding::min()/max() when the file omits them. */
  out->min = tensor->min_ ? read_f32(tensor->data_ + tensor->min_ + at)
                          : (float)((double)out->offset * out->scale);
  out->max = tensor->max_
                 ? read_f32(tensor->data_ + tensor->max_ + at)
                 : (float)(((double)out->offset + grid_levels(tensor->bitwidth)) * out->scale);
  return QSIM_ENC_OK;
}

const char* qsim_enc_status_string(qsim_enc_status status) {
  switch (status) {
    case QSIM_ENC_OK:
      return "ok";
    case QSIM_ENC_ERR_ARGUMENT:
      return "a required pointer is NULL";
    case QSIM_ENC_ERR_TOO_SMALL:
      return "the buffer is too small to be an encodings file";
    case QSIM_ENC_ERR_IDENTIFIER:
      return "not a qsim encodings file (wrong file identifier)";
    case QSIM_ENC_ERR_CORRUPT:
      return "corrupt or truncated encodings file";
    case QSIM_ENC_ERR_VERSION:
      return "unsupported encodings schema version";
    case QSIM_ENC_ERR_INVALID:
      return "an encoding in the file breaks qsim's rules";
    case QSIM_ENC_ERR_RANGE:
      return "index out of range";
    case QSIM_ENC_ERR_NOT_FOUND:
      return "no tensor of that name";
  }
  return "unknown status";
}
