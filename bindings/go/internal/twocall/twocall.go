// Package twocall reads qsim's thread-local error the wrong way for goroutines: in a cgo call
// of its own, after the failing one. The error test runs it through the same harness as the
// binding to show that the harness catches the messages this mixes up.
package twocall

// #cgo pkg-config: qsim
// #include <stdlib.h>
// #include "qsim/qsim.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// CreateError fails to load path (a missing file) and returns the message qsim_last_error
// gives in a second cgo call. Between the two the goroutine yields, as it may at any point
// between two cgo calls, and may then resume on a thread whose last error is another's.
func CreateError(path string) string {
	cPath := C.CString(path)
	defer C.free(unsafe.Pointer(cPath))
	var session *C.qsim_session
	if C.qsim_create(cPath, nil, &session) == C.QSIM_OK {
		C.qsim_destroy(session)
		return ""
	}
	runtime.Gosched()
	return C.GoString(C.qsim_last_error())
}
