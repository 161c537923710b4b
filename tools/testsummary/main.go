// Command testsummary runs go test -json with the given arguments, prints what a
// plain go test prints (package ok/FAIL lines, the output of failing tests), and
// closes with the skipped tests grouped by reason and one line of counts:
//
//	go run ./tools/testsummary -count=1 ./...
//
// It runs the go command named by $GO, or go. Its exit status is go test's (1 when
// a test failed though go test exited 0).
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	gocmd := os.Getenv("GO")
	if gocmd == "" {
		gocmd = "go"
	}
	cmd := exec.Command(gocmd, append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "testsummary: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "testsummary: %v\n", err)
		return 1
	}
	s := newSummary(stdout)
	readErr := s.read(pipe)
	waitErr := cmd.Wait()
	s.print()
	switch {
	case readErr != nil:
		fmt.Fprintf(stderr, "testsummary: %v\n", readErr)
		return 1
	case waitErr != nil:
		if ee, ok := waitErr.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintf(stderr, "testsummary: %v\n", waitErr)
		return 1
	case s.failed > 0:
		return 1
	}
	return 0
}
