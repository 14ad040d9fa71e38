package qsim_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"qsim.dev/qsim"
)

func TestVersion(t *testing.T) {
	n := qsim.VersionNumber()
	if n != qsim.HeaderVersionNumber {
		t.Errorf("library version %d, header %d", n, qsim.HeaderVersionNumber)
	}
	if want := fmt.Sprintf("%d.%d.%d", n/10000, n/100%100, n%100); qsim.Version() != want {
		t.Errorf("Version() = %q, want %q", qsim.Version(), want)
	}
}

func TestOptions(t *testing.T) {
	o := qsim.DefaultOptions()
	if o.WeightBits != 8 || o.ActivationCalibration != qsim.CalibTFEnhanced || !o.FoldBatchNorm {
		t.Errorf("DefaultOptions() = %+v, not the header's defaults", o)
	}
	o.WeightBits = 1
	if _, err := qsim.Create(modelPath, &o); !errors.Is(err, qsim.ErrInvalidArgument) {
		t.Errorf("Create with weight_bits 1: %v, want ErrInvalidArgument", err)
	}
	if method, err := qsim.ParseCalibrationMethod("mse"); err != nil || method != qsim.CalibMSE {
		t.Errorf("ParseCalibrationMethod(mse) = %v, %v", method, err)
	}
	if _, err := qsim.ParseTarget("no-such-target"); !errors.Is(err, qsim.ErrInvalidArgument) {
		t.Errorf("ParseTarget(no-such-target): %v, want ErrInvalidArgument", err)
	}
}

func TestInputsAndOutputs(t *testing.T) {
	model, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := qsim.CreateFromMemory(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inputs, err := s.Inputs()
	if err != nil || len(inputs) != 1 || inputs[0].Name != "input" ||
		inputs[0].DType != qsim.Float32 || !reflect.DeepEqual(inputs[0].Shape[1:], []int64{1, 28, 28}) {
		t.Errorf("Inputs() = %+v, %v; want one float32 \"input\" [N, 1, 28, 28]", inputs, err)
	}
	outputs, err := s.Outputs()
	if err != nil || len(outputs) != 1 || outputs[0].Shape[len(outputs[0].Shape)-1] != 10 {
		t.Errorf("Outputs() = %+v, %v; want one output of 10 logits", outputs, err)
	}
}

func TestRunFloatAndQuantized(t *testing.T) {
	s := newSession(t)
	input := []qsim.Tensor{samples.first(3)}
	if _, err := s.Run(qsim.RunQuantized, input); !errors.Is(err, qsim.ErrState) {
		t.Fatalf("quantized run before calibration: %v, want ErrState", err)
	}
	float := runLogits(t, s, qsim.RunFloat, input)
	if err := s.Calibrate(newSource(t, []qsim.Tensor{samples.first(128)}, 32), nil); err != nil {
		t.Fatal(err)
	}
	quantized := runLogits(t, s, qsim.RunQuantized, input)
	largest, difference := 0.0, 0.0
	for i := range float {
		largest = math.Max(largest, math.Abs(float64(float[i])))
		difference = math.Max(difference, math.Abs(float64(float[i]-quantized[i])))
	}
	t.Logf("largest float logit %.4f, largest quantization difference %.4f", largest, difference)
	if difference == 0 || difference > 0.2*largest {
		t.Errorf("quantized logits differ from float by %g (largest logit %g): want a small, "+
			"nonzero difference", difference, largest)
	}
}

// runLogits runs s and checks it gives one float32 output [3, 10].
func runLogits(t *testing.T, s *qsim.Session, mode qsim.RunMode, input []qsim.Tensor) []float32 {
	t.Helper()
	outputs, err := s.Run(mode, input)
	if err != nil {
		t.Fatalf("Run(%d): %v", mode, err)
	}
	if len(outputs) != 1 || !reflect.DeepEqual(outputs[0].Shape, []int64{3, 10}) {
		t.Fatalf("Run(%d) gave %d outputs, the first %+v; want one [3, 10]", mode, len(outputs),
			outputs[0].Shape)
	}
	logits, err := outputs[0].Float32s()
	if err != nil || len(logits) != 30 {
		t.Fatalf("Run(%d): %d float32 logits, %v; want 30", mode, len(logits), err)
	}
	return logits
}

// One data source serves Calibrate and then Adaround, each reading it from its first
// sample; a ReaderFunc Calibrate drained gives Adaround nothing.
func TestDataSourceServesCalibrateThenAdaround(t *testing.T) {
	options := qsim.DefaultAdaroundOptions()
	options.NumIterations, options.NumSamples = 10, 64

	s := newSession(t)
	source := newSource(t, []qsim.Tensor{samples.first(64)}, 32)
	if n, err := source.Samples(); err != nil || n != 64 {
		t.Fatalf("Samples() = %d, %v; want 64", n, err)
	}
	if err := s.Calibrate(source, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Adaround(source, &options, nil); err != nil {
		t.Fatalf("Adaround on the source Calibrate read: %v", err)
	}
	notes, err := s.Notes()
	if err != nil || !strings.Contains(strings.SplitN(notes, "\n", 2)[0], "adaround") {
		t.Errorf("notes after AdaRound: %q, %v", notes, err)
	}

	drained := newSession(t)
	reader, _ := samples.batches(64, 32)
	if err := drained.Calibrate(reader, nil); err != nil {
		t.Fatal(err)
	}
	if err := drained.Adaround(reader, &options, nil); !errors.Is(err, qsim.ErrInvalidArgument) {
		t.Errorf("Adaround on a drained ReaderFunc: %v, want ErrInvalidArgument", err)
	}
}

// The same samples through a .npy source, a ReaderFunc and an in-memory source give the
// same encodings; exported and loaded back they are the same again.
func TestDataPathsAgreeAndEncodingsRoundTrip(t *testing.T) {
	n := samples.shape[0]
	npy, err := qsim.DataSourceFromNpy([]string{calibPath}, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer npy.Close()
	reader, given := samples.batches(n, 32)
	want := calibratedEncodings(t, npy)
	if got := calibratedEncodings(t, reader); !reflect.DeepEqual(got, want) {
		t.Errorf("a ReaderFunc gave other encodings than the .npy source")
	}
	if int64(*given) != (n+31)/32 {
		t.Errorf("the ReaderFunc gave %d batches, want %d", *given, (n+31)/32)
	}
	if got := calibratedEncodings(t, newSource(t, []qsim.Tensor{samples.first(n)}, 32)); !reflect.DeepEqual(got, want) {
		t.Errorf("DataSourceFromArrays gave other encodings than the .npy source")
	}

	s := newSession(t)
	if err := s.Calibrate(npy, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := s.Export(dir, &qsim.ExportOptions{Formats: qsim.ExportEncodingsFBS,
		Basename: "roundtrip"}); err != nil {
		t.Fatal(err)
	}
	loaded := newSession(t)
	if err := loaded.LoadEncodings(filepath.Join(dir, "roundtrip.encodings.fbs")); err != nil {
		t.Fatal(err)
	}
	if got, _ := loaded.Encodings(); !reflect.DeepEqual(got, want) {
		t.Errorf("encodings exported and loaded back differ")
	}
}

func calibratedEncodings(t *testing.T, data qsim.Data) []qsim.Encoding {
	t.Helper()
	s := newSession(t)
	if err := s.Calibrate(data, nil); err != nil {
		t.Fatal(err)
	}
	encodings, err := s.Encodings()
	if err != nil || len(encodings) == 0 {
		t.Fatalf("Encodings() after calibration: %d, %v", len(encodings), err)
	}
	return encodings
}

func TestCloseIsIdempotent(t *testing.T) {
	s := newSession(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Notes(); !errors.Is(err, qsim.ErrState) {
		t.Errorf("Notes on a closed session: %v, want ErrState", err)
	}
}

func TestSmoothQuantBeforeCalibration(t *testing.T) {
	s := newSession(t)
	source := newSource(t, []qsim.Tensor{samples.first(64)}, 32)
	options := qsim.DefaultSmoothQuantOptions()
	options.NumSamples = 64
	lastTotal := int64(0)
	progress := func(done, total int64, message string) bool {
		lastTotal = total
		return false
	}
	if err := s.SmoothQuant(source, &options, progress); err != nil {
		t.Fatal(err)
	}
	if lastTotal != 64 {
		t.Errorf("SmoothQuant progress total %d, want num_samples 64", lastTotal)
	}
	if err := s.SmoothQuant(source, &options, nil); !errors.Is(err, qsim.ErrState) {
		t.Errorf("a second SmoothQuant: %v, want ErrState", err)
	}
	if err := s.Calibrate(source, nil); err != nil {
		t.Fatal(err)
	}
	if notes, _ := s.Notes(); !strings.Contains(strings.SplitN(notes, "\n", 2)[0], "smooth_quant") {
		t.Errorf("notes do not record smooth_quant: %q", notes)
	}
}

func TestLibraryInfo(t *testing.T) {
	name, report, err := qsim.KernelPath()
	if err != nil || (name != "avx512" && name != "avx2" && name != "baseline") ||
		!strings.HasPrefix(report, name) {
		t.Errorf("KernelPath() = %q, %q, %v", name, report, err)
	}
	description, err := qsim.DescribeModel(modelPath, qsim.FormatJSON)
	if err != nil || !strings.Contains(description, `"input"`) {
		t.Errorf("DescribeModel: %v, %.200s", err, description)
	}
	if _, err := qsim.DescribeModel("/nonexistent/d.onnx", qsim.FormatText); !errors.Is(err,
		qsim.ErrIO) {
		t.Errorf("DescribeModel of a missing file: %v, want ErrIO", err)
	}
}

// A format that cannot be built is skipped and the others written: 12-bit activations do not
// fit a QDQ model, the four other files are written, and the error says so.
func TestExportSkipsAFormatItCannotBuild(t *testing.T) {
	options := qsim.DefaultOptions()
	options.ActivationBits = 12
	s, err := qsim.Create(modelPath, &options)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	npy, err := qsim.DataSourceFromNpy([]string{calibPath}, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer npy.Close()
	if err := s.Calibrate(npy, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = s.Export(dir, nil)
	if !errors.Is(err, qsim.ErrIncomplete) || !strings.Contains(err.Error(), "skipped model.qdq.onnx") {
		t.Fatalf("Export with 12-bit activations: %v, want ErrIncomplete naming model.qdq.onnx", err)
	}
	want := qsim.ExportEncodingsFBS | qsim.ExportAIMETJSON061 | qsim.ExportAIMETJSON100 |
		qsim.ExportONNXRounded
	if got, err := s.ExportedFormats(); err != nil || got != want {
		t.Errorf("ExportedFormats() = %v, %v; want %v", got, err, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files written, want 4", len(entries))
	}
}
