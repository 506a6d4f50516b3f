package support

import (
	"io"
	"os"
	"os/exec"
	"testing"
)

// StartProcess starts cmd, its standard error the test's, and returns its
// standard output; the caller stops and waits for it.
func StartProcess(t testing.TB, cmd *exec.Cmd) io.ReadCloser {
	t.Helper()
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return out
}
