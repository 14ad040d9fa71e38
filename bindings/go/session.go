package qsim

// The library and its header are found with pkg-config; the flags apply to every file.

// #cgo pkg-config: qsim
// #include "shims.h"
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Version is the library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.qsim_version()) }

// VersionNumber is the loaded library's MAJOR*10000 + MINOR*100 + PATCH.
func VersionNumber() int { return int(C.qsim_version_number()) }

// HeaderVersionNumber is the version number of the qsim.h this binding was compiled with.
const HeaderVersionNumber = C.QSIM_VERSION_NUMBER

// KernelPath is the kernel path this process takes ("avx512", "avx2" or "baseline") and a
// line for logs saying why.
func KernelPath() (name, report string, err error) {
	var cName, cReport, message *C.char
	if err := errorOf(C.qsimgo_kernel_path(&cName, &cReport, &message), message); err != nil {
		return "", "", err
	}
	return C.GoString(cName), C.GoString(cReport), nil
}

// TextFormat is the format of DescribeModel's text.
type TextFormat int32

const (
	FormatText TextFormat = C.QSIM_FORMAT_TEXT
	FormatJSON TextFormat = C.QSIM_FORMAT_JSON
)

// DescribeModel describes the model at path: inputs, outputs, op counts, parameter count
// and unsupported ops.
func DescribeModel(path string, format TextFormat) (string, error) {
	var memory cMemory
	defer memory.free()
	var text, message *C.char
	status := C.qsimgo_describe_model(memory.cString(path), C.qsim_text_format(format), &text,
		&message)
	return takeText(text), errorOf(status, message)
}

// takeText copies a string the library allocated and frees it.
func takeText(text *C.char) string {
	defer C.qsim_free(unsafe.Pointer(text))
	return C.GoString(text)
}

// Session is a loaded model with its quantization state (qsim_session).
//
// A Session serves one call at a time: a call made while another is running on it, from
// another goroutine or from a callback of that call, fails at once with ErrState rather
// than waiting (waiting would deadlock the callback). Close it when done; a finalizer closes
// sessions that become unreachable, but only Close frees the memory at a known time.
type Session struct {
	mu     sync.Mutex
	handle *C.qsim_session
}

// Create loads the model at path. options nil means the library's defaults.
func Create(path string, options *Options) (*Session, error) {
	var memory cMemory
	defer memory.free()
	var handle *C.qsim_session
	var message *C.char
	status := C.qsimgo_create(memory.cString(path), options.cOptions(&memory), &handle, &message)
	return newSession(handle, errorOf(status, message))
}

// CreateFromMemory loads a model from its ONNX bytes. options nil means the defaults.
func CreateFromMemory(model []byte, options *Options) (*Session, error) {
	var memory cMemory
	defer memory.free()
	var handle *C.qsim_session
	var message *C.char
	status := C.qsimgo_create_from_memory(memory.keep(C.CBytes(model)), C.size_t(len(model)),
		options.cOptions(&memory), &handle, &message)
	return newSession(handle, errorOf(status, message))
}

func newSession(handle *C.qsim_session, err error) (*Session, error) {
	if err != nil {
		return nil, err
	}
	s := &Session{handle: handle}
	runtime.SetFinalizer(s, (*Session).Close)
	return s, nil
}

// Close frees the session. Closing a closed session does nothing; closing one that is
// running a call fails with ErrState.
func (s *Session) Close() error {
	if !s.mu.TryLock() {
		return errBusy("session")
	}
	defer s.mu.Unlock()
	C.qsim_destroy(s.handle)
	s.handle = nil
	runtime.SetFinalizer(s, nil)
	return nil
}

func errBusy(what string) error {
	return &Error{Status: ErrState, Message: "the " + what + " is running another call " +
		"(from another goroutine, or this is a callback of that call)"}
}

// use runs body with the session's handle, one call at a time.
func (s *Session) use(body func(handle *C.qsim_session) error) error {
	if !s.mu.TryLock() {
		return errBusy("session")
	}
	defer s.mu.Unlock()
	if s.handle == nil {
		return &Error{Status: ErrState, Message: "the session is closed"}
	}
	return body(s.handle)
}

// IOInfo is a model input or output: name, dtype and declared shape (-1 for a symbolic
// dimension).
type IOInfo struct {
	Name  string
	DType DType
	Shape []int64
}

// Inputs are the model's inputs, in order.
func (s *Session) Inputs() ([]IOInfo, error) { return s.ioInfo(C.QSIM_INPUT) }

// Outputs are the model's outputs, in order.
func (s *Session) Outputs() ([]IOInfo, error) { return s.ioInfo(C.QSIM_OUTPUT) }

func (s *Session) ioInfo(kind C.qsim_io_kind) (infos []IOInfo, err error) {
	err = s.use(func(handle *C.qsim_session) error {
		var count C.size_t
		var message *C.char
		if err := errorOf(C.qsimgo_io_count(handle, kind, &count, &message), message); err != nil {
			return err
		}
		for i := C.size_t(0); i < count; i++ {
			var info C.qsim_tensor
			status := C.qsimgo_io_info(handle, kind, i, &info, &message)
			if err := errorOf(status, message); err != nil {
				return err
			}
			t := goTensor(&info)
			infos = append(infos, IOInfo{Name: t.Name, DType: t.DType, Shape: t.Shape})
		}
		return nil
	})
	return infos, err
}

// RunMode chooses the float model or its quantization simulation.
type RunMode int32

const (
	RunFloat     RunMode = C.QSIM_RUN_FLOAT
	RunQuantized RunMode = C.QSIM_RUN_QUANTIZED // needs encodings: calibrate or load them first
)

// Run runs inference on inputs (model input order, or named) and returns every output, in
// model order. The inputs are copied into C memory for the call.
func (s *Session) Run(mode RunMode, inputs []Tensor) (outputs []Tensor, err error) {
	err = s.use(func(handle *C.qsim_session) error {
		var memory cMemory
		defer memory.free()
		cInputs := memory.tensors(len(inputs))
		for i, t := range inputs {
			if err := memory.fill(&cInputs[i], t); err != nil {
				return err
			}
		}
		var count C.size_t
		var message *C.char
		if err := errorOf(C.qsimgo_io_count(handle, C.QSIM_OUTPUT, &count, &message),
			message); err != nil {
			return err
		}
		cOutputs := memory.tensors(int(count))
		status := C.qsimgo_infer_shapes(handle, first(cInputs), C.size_t(len(cInputs)),
			first(cOutputs), count, &message)
		if err := errorOf(status, message); err != nil {
			return err
		}
		for i := range cOutputs {
			cOutputs[i].data = memory.keep(C.malloc(cOutputs[i].size_bytes + 1))
		}
		status = C.qsimgo_run(handle, C.qsim_run_mode(mode), first(cInputs),
			C.size_t(len(cInputs)), first(cOutputs), count, &message)
		if err := errorOf(status, message); err != nil {
			return err
		}
		for i := range cOutputs {
			outputs = append(outputs, goTensor(&cOutputs[i]))
		}
		return nil
	})
	return outputs, err
}

// first is the address of a C array's first element, nil for none.
func first(tensors []C.qsim_tensor) *C.qsim_tensor {
	if len(tensors) == 0 {
		return nil
	}
	return &tensors[0]
}

// Calibrate computes weight encodings and calibrates activation encodings on data.
// progress may be nil; it is called after each batch with the batches so far and total -1.
func (s *Session) Calibrate(data Data, progress ProgressFunc) error {
	return s.quantize(data, progress, func(h *C.qsim_session, source *C.qsim_data_source,
		callback C.uintptr_t, message **C.char) C.qsim_status {
		return C.qsimgo_calibrate(h, source, callback, cBool(progress != nil), message)
	})
}

// SmoothQuant migrates activation outliers into the weights of every Gemm and MatMul with a
// constant weight. Call it before Calibrate or LoadEncodings. options nil means defaults.
func (s *Session) SmoothQuant(data Data, options *SmoothQuantOptions,
	progress ProgressFunc) error {
	return s.quantize(data, progress, func(h *C.qsim_session, source *C.qsim_data_source,
		callback C.uintptr_t, message **C.char) C.qsim_status {
		return C.qsimgo_smooth_quant(h, source, callback, options.cOptions(),
			cBool(progress != nil), message)
	})
}

// Adaround optimizes the rounding (AdaRound), the values (AdaQuant) or the biases (bias
// correction) of the weights on data, after Calibrate or LoadEncodings. options nil means
// the defaults (10000 iterations per layer: long).
func (s *Session) Adaround(data Data, options *AdaroundOptions, progress ProgressFunc) error {
	return s.quantize(data, progress, func(h *C.qsim_session, source *C.qsim_data_source,
		callback C.uintptr_t, message **C.char) C.qsim_status {
		return C.qsimgo_adaround(h, source, callback, options.cOptions(),
			cBool(progress != nil), message)
	})
}

// quantizeCall is one of the shims taking a reader: a *DataSource's handle, or nil and the
// cgo.Handle of the Go callbacks.
type quantizeCall func(session *C.qsim_session, source *C.qsim_data_source,
	callback C.uintptr_t, message **C.char) C.qsim_status

func (s *Session) quantize(data Data, progress ProgressFunc, call quantizeCall) error {
	return s.use(func(handle *C.qsim_session) error {
		cb := &callback{progress: progress}
		return data.withReader(cb, func(source *C.qsim_data_source) error {
			return cb.invoke(func(callback C.uintptr_t) error {
				var message *C.char
				return errorOf(call(handle, source, callback, &message), message)
			})
		})
	})
}

// LoadEncodings loads encodings (qsim FlatBuffers or AIMET JSON) and freezes them.
func (s *Session) LoadEncodings(path string) error {
	return s.use(func(handle *C.qsim_session) error {
		var memory cMemory
		defer memory.free()
		var message *C.char
		return errorOf(C.qsimgo_load_encodings(handle, memory.cString(path), &message), message)
	})
}

// Role is what a quantized tensor is in the model (qsim_tensor_role).
type Role int32

const (
	RoleModelInput Role = C.QSIM_ROLE_MODEL_INPUT
	RoleActivation Role = C.QSIM_ROLE_ACTIVATION
	RoleWeight     Role = C.QSIM_ROLE_WEIGHT
	RoleBias       Role = C.QSIM_ROLE_BIAS
)

// Symmetry is an encoding's grid symmetry (qsim_symmetry).
type Symmetry int32

const (
	Asymmetric        Symmetry = C.QSIM_ASYMMETRIC
	Symmetric         Symmetry = C.QSIM_SYMMETRIC
	StrictSymmetric   Symmetry = C.QSIM_STRICT_SYMMETRIC
	UnsignedSymmetric Symmetry = C.QSIM_UNSIGNED_SYMMETRIC
)

// Encoding is one quantized (or deliberately float) tensor's encoding, AIMET's convention:
// q = clamp(round(x / scale) - offset, 0, 2^bitwidth - 1), x = (q + offset) * scale.
type Encoding struct {
	Name           string
	Role           Role
	Quantized      bool
	Bitwidth       int32
	Symmetry       Symmetry
	Axis           int32 // -1 per tensor, else the channel axis
	Scales         []float32
	Offsets        []int32
	ExcludedValues int64 // NaN/Inf values the last calibration left out
}

// Encodings are the session's encodings: activations in graph order, then weights and
// biases; none before calibration or loading.
func (s *Session) Encodings() (encodings []Encoding, err error) {
	err = s.use(func(handle *C.qsim_session) error {
		var count C.size_t
		var message *C.char
		status := C.qsimgo_encoding_count(handle, &count, &message)
		if err := errorOf(status, message); err != nil {
			return err
		}
		for i := C.size_t(0); i < count; i++ {
			encoding, err := encodingAt(handle, i)
			if err != nil {
				return err
			}
			encodings = append(encodings, encoding)
		}
		return nil
	})
	return encodings, err
}

func encodingAt(handle *C.qsim_session, index C.size_t) (Encoding, error) {
	var info C.qsim_encoding_info
	var message *C.char
	if err := errorOf(C.qsimgo_get_encoding(handle, index, &info, &message), message); err != nil {
		return Encoding{}, err
	}
	e := Encoding{
		Name:           C.GoString(info.name),
		Role:           Role(info.role),
		Quantized:      info.quantized != 0,
		Bitwidth:       int32(info.bitwidth),
		Symmetry:       Symmetry(info.symmetry),
		Axis:           int32(info.axis),
		Scales:         make([]float32, int(info.num_channels)),
		Offsets:        make([]int32, int(info.num_channels)),
		ExcludedValues: int64(info.excluded_values),
	}
	if len(e.Scales) == 0 {
		return e, nil
	}
	status := C.qsimgo_get_encoding_channels(handle, index, (*C.float)(&e.Scales[0]),
		(*C.int32_t)(&e.Offsets[0]), info.num_channels, &message)
	return e, errorOf(status, message)
}

// Notes are the library's remarks on the session's quantization, one per line; the first
// is always "techniques applied, in order: ...".
func (s *Session) Notes() (notes string, err error) {
	err = s.use(func(handle *C.qsim_session) error {
		var text, message *C.char
		status := C.qsimgo_get_notes(handle, &text, &message)
		notes = takeText(text)
		return errorOf(status, message)
	})
	return notes, err
}

// Export writes the chosen files into dir (created if missing): all of them, named
// "model.*", when options is nil. A format that cannot be built is skipped and the others
// are written: the error is then ErrIncomplete, naming each skipped file and why, and
// ExportedFormats tells what was written.
func (s *Session) Export(dir string, options *ExportOptions) error {
	return s.use(func(handle *C.qsim_session) error {
		var memory cMemory
		defer memory.free()
		var message *C.char
		status := C.qsimgo_export(handle, memory.cString(dir), options.cOptions(&memory),
			&message)
		return errorOf(status, message)
	})
}

// ExportedFormats are the formats the last Export wrote (0 before any, and after one that
// wrote none).
func (s *Session) ExportedFormats() (formats ExportFormat, err error) {
	err = s.use(func(handle *C.qsim_session) error {
		var bits C.uint32_t
		var message *C.char
		status := C.qsimgo_exported_formats(handle, &bits, &message)
		formats = ExportFormat(bits)
		return errorOf(status, message)
	})
	return formats, err
}
