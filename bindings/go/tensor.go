package qsim

// #include "shims.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// DType is a tensor element type (qsim_dtype).
type DType int32

const (
	Undefined DType = C.QSIM_DTYPE_UNDEFINED
	Float32   DType = C.QSIM_DTYPE_FLOAT32
	Uint8     DType = C.QSIM_DTYPE_UINT8
	Int8      DType = C.QSIM_DTYPE_INT8
	Uint16    DType = C.QSIM_DTYPE_UINT16
	Int16     DType = C.QSIM_DTYPE_INT16
	Int32     DType = C.QSIM_DTYPE_INT32
	Int64     DType = C.QSIM_DTYPE_INT64
	Bool      DType = C.QSIM_DTYPE_BOOL
)

// MaxRank is the highest rank a tensor may have (QSIM_MAX_RANK).
const MaxRank = C.QSIM_MAX_RANK

// Tensor is a tensor in C order: Data holds its elements' bytes in the machine's byte order.
// Name is optional for inputs (empty binds by position); outputs carry the model's name.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// Float32Tensor is a float32 tensor of the given shape holding a copy of values.
func Float32Tensor(shape []int64, values []float32) Tensor {
	data := append([]byte(nil), float32Bytes(values)...)
	return Tensor{DType: Float32, Shape: append([]int64(nil), shape...), Data: data}
}

// Float32s is a copy of the elements of a float32 tensor.
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != Float32 {
		return nil, fmt.Errorf("qsim: tensor %q is not float32 but dtype %d", t.Name, t.DType)
	}
	values := make([]float32, len(t.Data)/4)
	copy(float32Bytes(values), t.Data)
	return values, nil
}

// float32Bytes is the memory of values seen as bytes.
func float32Bytes(values []float32) []byte {
	if len(values) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&values[0])), 4*len(values))
}

// cMemory is C memory made for one call, freed together when the call is over. Tensors
// handed to C live here: C may not hold pointers into Go memory.
type cMemory []unsafe.Pointer

func (m *cMemory) keep(p unsafe.Pointer) unsafe.Pointer {
	*m = append(*m, p)
	return p
}

func (m *cMemory) free() {
	for _, p := range *m {
		C.free(p)
	}
	*m = (*m)[:0]
}

func (m *cMemory) cString(s string) *C.char {
	return (*C.char)(m.keep(unsafe.Pointer(C.CString(s))))
}

// tensors is a zeroed C array of n qsim_tensor.
func (m *cMemory) tensors(n int) []C.qsim_tensor {
	if n == 0 {
		return nil
	}
	array := m.keep(C.calloc(C.size_t(n), C.sizeof_qsim_tensor))
	return unsafe.Slice((*C.qsim_tensor)(array), n)
}

// fill describes t in *c, its name and data copied into C memory.
func (m *cMemory) fill(c *C.qsim_tensor, t Tensor) error {
	if len(t.Shape) > MaxRank {
		return fmt.Errorf("qsim: tensor %q has rank %d, more than %d", t.Name, len(t.Shape), MaxRank)
	}
	if t.Name != "" {
		c.name = m.cString(t.Name)
	}
	c.dtype = C.qsim_dtype(t.DType)
	c.rank = C.int32_t(len(t.Shape))
	for i, d := range t.Shape {
		c.shape[i] = C.int64_t(d)
	}
	if len(t.Data) > 0 {
		c.data = m.keep(C.CBytes(t.Data))
	}
	c.size_bytes = C.size_t(len(t.Data))
	return nil
}

// goTensor copies a C tensor (name, dtype, shape, size_bytes of data) into Go memory.
func goTensor(c *C.qsim_tensor) Tensor {
	t := Tensor{DType: DType(c.dtype), Shape: make([]int64, int(c.rank))}
	if c.name != nil {
		t.Name = C.GoString(c.name)
	}
	for i := range t.Shape {
		t.Shape[i] = int64(c.shape[i])
	}
	if c.data != nil {
		t.Data = append([]byte(nil), unsafe.Slice((*byte)(c.data), int(c.size_bytes))...)
	}
	return t
}
