package qsim_test

import (
	"errors"
	"strings"
	"testing"

	"qsim.dev/qsim"
)

// panicValue is what a callback panics with: the test checks the very value comes back.
type panicValue struct{ where string }

// recovered runs call and returns what it panicked with, nil when it returned.
func recovered(call func()) (value any) {
	defer func() { value = recover() }()
	call()
	return nil
}

// requireUsable checks that a session a failed call left behind has no encodings and
// still calibrates.
func requireUsable(t *testing.T, s *qsim.Session) {
	t.Helper()
	if encodings, err := s.Encodings(); err != nil || len(encodings) != 0 {
		t.Fatalf("after the failed call: %d encodings, %v; want none", len(encodings), err)
	}
	if err := s.Calibrate(newSource(t, []qsim.Tensor{samples.first(32)}, 32), nil); err != nil {
		t.Fatalf("calibrating after the failed call: %v", err)
	}
}

func TestReaderPanicResumesAfterTheCall(t *testing.T) {
	s := newSession(t)
	want := &panicValue{"reader"}
	batches, given := samples.batches(64, 16)
	reader := func() ([]qsim.Tensor, error) {
		if *given == 2 {
			panic(want)
		}
		return batches()
	}
	got := recovered(func() { s.Calibrate(qsim.ReaderFunc(reader), nil) })
	if got != want {
		t.Fatalf("Calibrate panicked with %v, want the reader's %v", got, want)
	}
	requireUsable(t, s)
}

func TestProgressPanicResumesAfterTheCall(t *testing.T) {
	s := newSession(t)
	want := &panicValue{"progress"}
	calls := 0
	progress := func(done, total int64, message string) bool {
		if calls++; calls == 2 {
			panic(want)
		}
		return false
	}
	source := newSource(t, []qsim.Tensor{samples.first(64)}, 16)
	got := recovered(func() { s.Calibrate(source, progress) })
	if got != want || calls != 2 {
		t.Fatalf("Calibrate panicked with %v after %d progress calls, want %v after 2", got,
			calls, want)
	}
	requireUsable(t, s)
}

func TestReaderErrorIsWrapped(t *testing.T) {
	s := newSession(t)
	diskGone := errors.New("disk gone")
	batches, given := samples.batches(64, 16)
	reader := func() ([]qsim.Tensor, error) {
		if *given == 2 {
			return nil, diskGone
		}
		return batches()
	}
	err := s.Calibrate(qsim.ReaderFunc(reader), nil)
	if !errors.Is(err, qsim.ErrCallback) || !errors.Is(err, diskGone) {
		t.Fatalf("Calibrate with a failing reader: %v, want ErrCallback wrapping %v", err, diskGone)
	}
	requireUsable(t, s)
}

func TestReaderGivingTheWrongTensorCount(t *testing.T) {
	s := newSession(t)
	twoInputs := func() ([]qsim.Tensor, error) {
		return []qsim.Tensor{samples.first(4), samples.first(4)}, nil
	}
	err := s.Calibrate(qsim.ReaderFunc(twoInputs), nil)
	if !errors.Is(err, qsim.ErrCallback) || !strings.Contains(err.Error(), "2 tensors") {
		t.Fatalf("Calibrate with a reader giving 2 tensors for 1 input: %v", err)
	}
}

func TestProgressCancels(t *testing.T) {
	s := newSession(t)
	calls := 0
	cancel := func(done, total int64, message string) bool {
		calls++
		return true
	}
	err := s.Calibrate(newSource(t, []qsim.Tensor{samples.first(64)}, 16), cancel)
	if !errors.Is(err, qsim.ErrCancelled) || calls != 1 {
		t.Fatalf("Calibrate cancelled by progress: %v after %d calls, want ErrCancelled after 1",
			err, calls)
	}
	if _, err := s.Run(qsim.RunQuantized, []qsim.Tensor{samples.first(1)}); !errors.Is(err,
		qsim.ErrState) {
		t.Errorf("quantized run after a cancelled calibration: %v, want ErrState", err)
	}
	requireUsable(t, s)
}

// A callback calling its own session or the source being read gets ErrState at once
// instead of a deadlock; the call it serves goes on.
func TestCallbackCallingItsSession(t *testing.T) {
	s := newSession(t)
	source := newSource(t, []qsim.Tensor{samples.first(32)}, 32)
	var notesErr, closeErr, samplesErr error
	progress := func(done, total int64, message string) bool {
		_, notesErr = s.Notes()
		closeErr = s.Close()
		_, samplesErr = source.Samples()
		return false
	}
	if err := s.Calibrate(source, progress); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(notesErr, qsim.ErrState) || !errors.Is(closeErr, qsim.ErrState) ||
		!errors.Is(samplesErr, qsim.ErrState) {
		t.Errorf("Notes, Close and source.Samples from the call's own callback: %v, %v, %v; "+
			"want ErrState", notesErr, closeErr, samplesErr)
	}
	if _, err := s.Notes(); err != nil {
		t.Errorf("Notes after the call: %v", err)
	}
}
