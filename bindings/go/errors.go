package qsim

// #include "shims.h"
import "C"

import "unsafe"

// Status is a qsim status code (qsim_status). Every status but OK is also an error, so the
// Err* constants serve as sentinels: errors.Is(err, qsim.ErrCancelled).
type Status int32

const (
	OK                 Status = C.QSIM_OK
	ErrInvalidArgument Status = C.QSIM_ERR_INVALID_ARGUMENT
	ErrIO              Status = C.QSIM_ERR_IO
	ErrParse           Status = C.QSIM_ERR_PARSE
	ErrUnsupported     Status = C.QSIM_ERR_UNSUPPORTED
	ErrShape           Status = C.QSIM_ERR_SHAPE
	ErrState           Status = C.QSIM_ERR_STATE
	ErrCancelled       Status = C.QSIM_ERR_CANCELLED
	ErrOutOfMemory     Status = C.QSIM_ERR_OUT_OF_MEMORY
	ErrBufferTooSmall  Status = C.QSIM_ERR_BUFFER_TOO_SMALL
	ErrNumeric         Status = C.QSIM_ERR_NUMERIC
	ErrInternal        Status = C.QSIM_ERR_INTERNAL
	ErrCallback        Status = C.QSIM_ERR_CALLBACK
	// ErrIncomplete: some outputs were written, others skipped (Session.Export).
	ErrIncomplete Status = C.QSIM_ERR_INCOMPLETE
)

// String is the C name of the status, e.g. "QSIM_ERR_PARSE".
func (s Status) String() string {
	return C.GoString(C.qsim_status_name(C.qsim_status(s)))
}

func (s Status) Error() string { return s.String() }

// Error is a failed qsim call: its status and the library's message naming the file, tensor
// or op at fault. When a Go callback caused the failure (a ReaderFunc returned an error), Err
// holds that error.
type Error struct {
	Status  Status
	Message string
	Err     error
}

func (e *Error) Error() string {
	text := e.Status.String()
	if e.Message != "" {
		text += ": " + e.Message
	}
	if e.Err != nil {
		text += ": " + e.Err.Error()
	}
	return text
}

// Is makes errors.Is(err, qsim.ErrCancelled) and the like match on the status.
func (e *Error) Is(target error) bool {
	status, ok := target.(Status)
	return ok && status == e.Status
}

func (e *Error) Unwrap() error { return e.Err }

// errorOf turns a shim's status and malloc'ed message into an error, freeing the message.
func errorOf(status C.qsim_status, message *C.char) error {
	if status == C.QSIM_OK {
		return nil
	}
	defer C.free(unsafe.Pointer(message))
	return &Error{Status: Status(status), Message: C.GoString(message)}
}
