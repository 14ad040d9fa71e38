// Package qsim is the Go binding of qsim, post-training quantization and quantization
// simulation for ONNX models, through its C API (qsim/qsim.h) with cgo.
//
// The library is found with pkg-config (package "qsim"); see docs/BINDING_GO.md for
// installation, the error model, callbacks, threading and memory ownership.
//
// A minimal quantization:
//
//	session, err := qsim.Create("model.onnx", nil)
//	if err != nil { ... }
//	defer session.Close()
//	source, err := qsim.DataSourceFromNpy([]string{"calib.npy"}, 32)
//	if err != nil { ... }
//	defer source.Close()
//	if err := session.Calibrate(source, nil); err != nil { ... }
//	if err := session.Export("out", nil); err != nil { ... }
package qsim
