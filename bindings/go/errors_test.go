package qsim_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"qsim.dev/qsim"
	"qsim.dev/qsim/internal/twocall"
)

const (
	goroutines = 8
	callsEach  = 300
)

// ownMessages makes goroutines × callsEach failing calls at once, none locked to its OS
// thread, yielding between calls so that goroutines hop threads, and counts the messages
// that name their own call's path. call(g, j) returns that path and the error message.
func ownMessages(call func(g, j int) (path, message string)) int64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
	var own int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := 0; j < callsEach; j++ {
				if path, message := call(g, j); strings.Contains(message, path) {
					atomic.AddInt64(&own, 1)
				}
				runtime.Gosched()
			}
		}(g)
	}
	wg.Wait()
	return own
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func messageOf(err error) string {
	var e *qsim.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}

func TestErrorsStayWithTheirCallAcrossThreads(t *testing.T) {
	const total = goroutines * callsEach
	created := ownMessages(func(g, j int) (string, string) {
		path := fmt.Sprintf("/nonexistent/g%d_%d.onnx", g, j)
		_, err := qsim.Create(path, nil)
		return path, messageOf(err)
	})
	t.Logf("qsim.Create: %d/%d messages name their own path", created, total)

	sessions := make([]*qsim.Session, goroutines)
	for g := range sessions {
		sessions[g] = newSession(t)
	}
	loaded := ownMessages(func(g, j int) (string, string) {
		path := fmt.Sprintf("/nonexistent/g%d_%d.json", g, j)
		return path, messageOf(sessions[g].LoadEncodings(path))
	})
	t.Logf("Session.LoadEncodings: %d/%d messages name their own path", loaded, total)

	if created != total || loaded != total {
		t.Errorf("messages naming their own path: Create %d/%d, LoadEncodings %d/%d", created,
			total, loaded, total)
	}
}

// The harness above can fail: reading qsim_last_error in a cgo call after the failing one,
// as a binding without shims would, gives goroutines each other's messages. A round may by
// chance see no thread hop, so up to five run before the test gives up.
func TestErrorHarnessCatchesSeparateReads(t *testing.T) {
	const total = goroutines * callsEach
	for round := 1; round <= 5; round++ {
		own := ownMessages(func(g, j int) (string, string) {
			path := fmt.Sprintf("/nonexistent/g%d_%d.onnx", g, j)
			return path, twocall.CreateError(path)
		})
		t.Logf("round %d: errors read in a separate cgo call: %d/%d name their own path",
			round, own, total)
		if own < total {
			return
		}
	}
	t.Error("no message was mixed up: the harness cannot tell the shims' reads from late ones")
}

func TestErrorStatusAndSentinels(t *testing.T) {
	_, err := qsim.Create("/nonexistent/model.onnx", nil)
	var e *qsim.Error
	if !errors.As(err, &e) || e.Status != qsim.ErrIO {
		t.Fatalf("Create on a missing file: %v, want an *Error of status ErrIO", err)
	}
	if !errors.Is(err, qsim.ErrIO) || errors.Is(err, qsim.ErrParse) {
		t.Errorf("errors.Is does not match the status alone: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "QSIM_ERR_IO: ") ||
		!strings.Contains(err.Error(), "/nonexistent/model.onnx") {
		t.Errorf("Error() = %q, want the status name then the message naming the file", err)
	}
}
