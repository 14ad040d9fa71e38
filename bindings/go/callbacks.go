package qsim

// Only declarations here: a file with //export may not define C functions (they would be
// defined twice); the C trampolines that call these live in shims.h.

// #include "qsim/qsim.h"
import "C"

import (
	"errors"
	"fmt"
	"io"
	"runtime/cgo"
	"unsafe"
)

// ReaderFunc supplies calibration data one batch at a time: one tensor per model input, in
// model input order, each [batch, ...]. It returns io.EOF when the data ends; any other
// error fails the call with an *Error of status ErrCallback wrapping it. A ReaderFunc is
// read from where it is: rewind or re-create it before each call (a *DataSource needs
// neither). The tensors are copied into C memory, so the reader may reuse their slices.
type ReaderFunc func() ([]Tensor, error)

// ProgressFunc observes a long call: done of total steps (total is -1 when unknown) and
// the library's message. Returning true cancels the call (an *Error of status ErrCancelled).
type ProgressFunc func(done, total int64, message string) (cancel bool)

// callback is what one quantization call's C trampolines reach through a cgo.Handle: the
// Go reader and progress function, and what they left behind for the Go side.
type callback struct {
	reader      ReaderFunc
	progress    ProgressFunc
	batch       cMemory // the reader's last batch, valid for C until the next read
	readerError error
	panicked    bool
	panicValue  any
}

// invoke runs a C call given the handle of c (0 when it needs no callback). After the call
// it frees the last batch and re-panics with the value a callback panicked with: the panic
// was stopped at the C boundary, which Go panics may not cross, and resumes here.
func (c *callback) invoke(call func(handle C.uintptr_t) error) error {
	if c.reader == nil && c.progress == nil {
		return call(0)
	}
	handle := cgo.NewHandle(c)
	err := call(C.uintptr_t(handle))
	handle.Delete()
	c.batch.free()
	if c.panicked {
		panic(c.panicValue)
	}
	var qsimError *Error
	if c.readerError != nil && errors.As(err, &qsimError) && qsimError.Status == ErrCallback {
		qsimError.Err = c.readerError
	}
	return err
}

// guard runs a Go callback for C: a panic becomes the negative return that makes the C call
// fail with QSIM_ERR_CALLBACK; once one has panicked, no callback runs again.
func (c *callback) guard(body func() C.int) (result C.int) {
	if c.panicked {
		return -1
	}
	defer func() {
		if value := recover(); value != nil {
			c.panicked, c.panicValue = true, value
			result = -1
		}
	}()
	return body()
}

//export qsimGoRead
func qsimGoRead(handle C.uintptr_t, inputs *C.qsim_tensor, numInputs C.size_t) C.int {
	c := cgo.Handle(handle).Value().(*callback)
	return c.guard(func() C.int { return c.read(unsafe.Slice(inputs, int(numInputs))) })
}

//export qsimGoProgress
func qsimGoProgress(handle C.uintptr_t, done, total C.int64_t, message *C.char) C.int {
	c := cgo.Handle(handle).Value().(*callback)
	return c.guard(func() C.int {
		if c.progress(int64(done), int64(total), C.GoString(message)) {
			return 1
		}
		return 0
	})
}

// read fills the C inputs with the reader's next batch: 1, 0 at the end, -1 on failure.
func (c *callback) read(inputs []C.qsim_tensor) C.int {
	c.batch.free()
	batch, err := c.reader()
	if errors.Is(err, io.EOF) {
		return 0
	}
	if err == nil && len(batch) != len(inputs) {
		err = fmt.Errorf("qsim: the reader gave %d tensors for a model of %d inputs", len(batch),
			len(inputs))
	}
	for i := 0; err == nil && i < len(batch); i++ {
		err = c.batch.fill(&inputs[i], batch[i])
	}
	if err != nil {
		c.readerError = err
		return -1
	}
	return 1
}
