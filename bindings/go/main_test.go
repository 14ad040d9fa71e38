package qsim_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"qsim.dev/qsim"
)

// The model and calibration samples, from the environment (run_tests.sh sets them):
// QSIM_TEST_MODEL (default: the repository's resnet_fmnist.onnx) and QSIM_TEST_CALIB, a
// float32 .npy of [N, 1, 28, 28] samples.
var (
	modelPath string
	calibPath string
	samples   sampleSet
)

// sampleSet is the calibration samples in Go memory: the data behind the ReaderFunc and
// DataSourceFromArrays tests, identical to what the library reads from the .npy file.
type sampleSet struct {
	shape  []int64 // [N, ...]
	values []float32
}

func TestMain(m *testing.M) {
	modelPath = os.Getenv("QSIM_TEST_MODEL")
	if modelPath == "" {
		modelPath = "../../models/resnet_fmnist.onnx"
	}
	calibPath = os.Getenv("QSIM_TEST_CALIB")
	var err error
	if calibPath == "" {
		err = fmt.Errorf("set QSIM_TEST_CALIB to a float32 .npy of calibration samples")
	} else {
		samples, err = readNpyFloat32(calibPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

var npyShape = regexp.MustCompile(`'shape': \(([0-9, ]*)\)`)

// readNpyFloat32 reads a little-endian float32 C-order .npy file (format 1.0).
func readNpyFloat32(path string) (sampleSet, error) {
	bytes, err := os.ReadFile(path)
	if err != nil {
		return sampleSet{}, err
	}
	if len(bytes) < 10 || string(bytes[1:6]) != "NUMPY" || bytes[6] != 1 {
		return sampleSet{}, fmt.Errorf("%s: not a version 1 .npy file", path)
	}
	end := 10 + int(binary.LittleEndian.Uint16(bytes[8:10]))
	header := string(bytes[10:end])
	match := npyShape.FindStringSubmatch(header)
	if !strings.Contains(header, "'<f4'") || !strings.Contains(header, "False") || match == nil {
		return sampleSet{}, fmt.Errorf("%s: not a float32 C-order array: %s", path, header)
	}
	set := sampleSet{}
	count := 1
	for _, field := range strings.Split(match[1], ",") {
		if field = strings.TrimSpace(field); field != "" {
			d, _ := strconv.Atoi(field)
			set.shape = append(set.shape, int64(d))
			count *= d
		}
	}
	if len(bytes)-end != 4*count {
		return sampleSet{}, fmt.Errorf("%s: %d data bytes for %d floats", path, len(bytes)-end, count)
	}
	set.values = make([]float32, count)
	for i := range set.values {
		set.values[i] = math.Float32frombits(binary.LittleEndian.Uint32(bytes[end+4*i:]))
	}
	return set, nil
}

// first is a tensor of the first n samples.
func (s sampleSet) first(n int64) qsim.Tensor {
	return s.slice(0, n)
}

// slice is a tensor of samples [from, to).
func (s sampleSet) slice(from, to int64) qsim.Tensor {
	per := int64(len(s.values)) / s.shape[0]
	shape := append([]int64{to - from}, s.shape[1:]...)
	return qsim.Float32Tensor(shape, s.values[from*per:to*per])
}

// batches is a ReaderFunc over the first n samples, batch samples at a time, and a counter
// of the batches it gave.
func (s sampleSet) batches(n, batch int64) (qsim.ReaderFunc, *int) {
	next, given := int64(0), 0
	return func() ([]qsim.Tensor, error) {
		if next >= n {
			return nil, io.EOF
		}
		to := next + batch
		if to > n {
			to = n
		}
		t := s.slice(next, to)
		next = to
		given++
		return []qsim.Tensor{t}, nil
	}, &given
}

func newSession(t *testing.T) *qsim.Session {
	t.Helper()
	s, err := qsim.Create(modelPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newSource(t *testing.T, arrays []qsim.Tensor, batch int64) *qsim.DataSource {
	t.Helper()
	source, err := qsim.DataSourceFromArrays(arrays, batch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { source.Close() })
	return source
}
