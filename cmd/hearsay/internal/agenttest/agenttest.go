// Package agenttest builds the hearsay binary for tests that run real
// agent processes (cmd/hearsay's end-to-end and dashboard tests, the
// network-namespace fault tests): once per test process, with the race
// detector when the tests have it, so that a data race in an agent fails
// the test that drove it.
package agenttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Package is the import path of the hearsay command.
const Package = "github.com/hearsay-io/hearsay/cmd/hearsay"

// BinaryPath returns where Main builds the binary for a test process: a
// directory of this process's own under the temporary directory, named
// after prefix (for example "hearsay-e2e").
func BinaryPath(prefix string) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d", prefix, os.Getpid()), "hearsay")
}

// Main builds the hearsay binary at path (with -race when this test binary
// has the race detector), runs the tests, removes the binary's directory
// and returns the exit code for os.Exit. A failed build fails the whole
// test binary with the compiler's output.
func Main(m *testing.M, path string) int {
	defer os.RemoveAll(filepath.Dir(path))
	args := []string{"build", "-o", path}
	if RaceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, Package)...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building hearsay: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
