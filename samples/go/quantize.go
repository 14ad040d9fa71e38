// Command quantize quantizes an ONNX model end to end through qsim's Go binding:
//
//	quantize MODEL.onnx CALIB.npy OUT_DIR
//
// It calibrates on the .npy samples, runs AdaRound (100 iterations, 128 samples) on the same
// data source, exports every format into OUT_DIR and prints the first line of the notes.
// The encodings it writes are byte-identical to those of the C sample and the other
// bindings' samples, which run the same steps.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"qsim.dev/qsim"
)

const batchSize = 32

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintf(os.Stderr, "usage: %s MODEL.onnx CALIB.npy OUT_DIR\n", os.Args[0])
		os.Exit(2)
	}
	notes, err := quantize(os.Args[1], os.Args[2], os.Args[3])
	if err != nil {
		var e *qsim.Error
		if errors.As(err, &e) {
			fmt.Fprintf(os.Stderr, "%s: %s\n", e.Status, e.Message)
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	fmt.Println(strings.SplitN(notes, "\n", 2)[0])
}

// quantize runs the steps and returns the session's notes.
func quantize(modelPath, calibPath, outDir string) (string, error) {
	session, err := qsim.Create(modelPath, nil)
	if err != nil {
		return "", err
	}
	defer session.Close()
	source, err := qsim.DataSourceFromNpy([]string{calibPath}, batchSize)
	if err != nil {
		return "", err
	}
	defer source.Close()

	batches := int64(0)
	countBatches := func(done, total int64, message string) bool {
		batches = done
		return false
	}
	if err := session.Calibrate(source, countBatches); err != nil {
		return "", err
	}
	fmt.Printf("calibrated on %d batches\n", batches)

	options := qsim.DefaultAdaroundOptions()
	options.NumIterations = 100
	options.NumSamples = 128
	if err := session.Adaround(source, &options, nil); err != nil { // the source rewinds itself
		return "", err
	}
	if err := session.Export(outDir, nil); err != nil {
		return "", err
	}
	return session.Notes()
}
