package qsim

// #include "shims.h"
import "C"

import (
	"runtime"
	"sync"
)

// Data is the calibration data a quantization call reads: a *DataSource, which the library
// reads and rewinds itself, or a ReaderFunc.
type Data interface {
	// withReader runs call with the C reader of the data: a data source's handle, or nil
	// with the Go reader set in cb.
	withReader(cb *callback, call func(source *C.qsim_data_source) error) error
}

func (r ReaderFunc) withReader(cb *callback, call func(*C.qsim_data_source) error) error {
	cb.reader = r
	return call(nil)
}

// DataSource is calibration data the library reads (qsim_data_source): every call it is
// given to starts from its first sample, so one source serves Calibrate, then Adaround.
// Like a Session it serves one call at a time (another fails with ErrState) and should be
// closed when done.
type DataSource struct {
	mu     sync.Mutex
	handle *C.qsim_data_source
}

// DataSourceFromNpy reads one .npy file per model input, in model input order, each
// [N, ...] with the same N, batchSize rows at a time.
func DataSourceFromNpy(paths []string, batchSize int64) (*DataSource, error) {
	var memory cMemory
	defer memory.free()
	cPaths := make([]*C.char, len(paths))
	for i, path := range paths {
		cPaths[i] = memory.cString(path)
	}
	var handle *C.qsim_data_source
	var message *C.char
	status := C.qsimgo_data_source_from_npy(firstString(cPaths), C.size_t(len(paths)),
		C.int64_t(batchSize), &handle, &message)
	return newDataSource(handle, errorOf(status, message))
}

// firstString is the address of the first C string pointer, nil for none. The slice is Go
// memory holding C pointers only, which cgo allows C to read during the call.
func firstString(strings []*C.char) **C.char {
	if len(strings) == 0 {
		return nil
	}
	return &strings[0]
}

// DataSourceFromArrays copies arrays (one per model input, in model input order, each
// [N, ...] with the same N; names are ignored) into a source read batchSize samples at a
// time. The caller's slices are free to change once it returns.
func DataSourceFromArrays(arrays []Tensor, batchSize int64) (*DataSource, error) {
	var memory cMemory
	defer memory.free()
	cArrays := memory.tensors(len(arrays))
	for i, t := range arrays {
		if err := memory.fill(&cArrays[i], t); err != nil {
			return nil, err
		}
	}
	var handle *C.qsim_data_source
	var message *C.char
	status := C.qsimgo_data_source_from_memory(first(cArrays), C.size_t(len(arrays)),
		C.int64_t(batchSize), &handle, &message)
	return newDataSource(handle, errorOf(status, message))
}

func newDataSource(handle *C.qsim_data_source, err error) (*DataSource, error) {
	if err != nil {
		return nil, err
	}
	d := &DataSource{handle: handle}
	runtime.SetFinalizer(d, (*DataSource).Close)
	return d, nil
}

// Samples is the number of samples N.
func (d *DataSource) Samples() (samples int64, err error) {
	err = d.use(func(handle *C.qsim_data_source) error {
		var count C.int64_t
		var message *C.char
		status := C.qsimgo_data_source_samples(handle, &count, &message)
		samples = int64(count)
		return errorOf(status, message)
	})
	return samples, err
}

func (d *DataSource) withReader(_ *callback, call func(*C.qsim_data_source) error) error {
	return d.use(func(handle *C.qsim_data_source) error { return call(handle) })
}

// use runs body with the source's handle, one call at a time.
func (d *DataSource) use(body func(handle *C.qsim_data_source) error) error {
	if !d.mu.TryLock() {
		return errBusy("data source")
	}
	defer d.mu.Unlock()
	if d.handle == nil {
		return &Error{Status: ErrState, Message: "the data source is closed"}
	}
	return body(d.handle)
}

// Close frees the source. Closing a closed source does nothing; closing one a call is
// reading fails with ErrState.
func (d *DataSource) Close() error {
	if !d.mu.TryLock() {
		return errBusy("data source")
	}
	defer d.mu.Unlock()
	C.qsim_data_source_destroy(d.handle)
	d.handle = nil
	runtime.SetFinalizer(d, nil)
	return nil
}
