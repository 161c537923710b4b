package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// summary follows the events of a run: it prints what go test without -v would,
// and counts tests and skip reasons.
type summary struct {
	w                       io.Writer
	out                     map[string][]string // output of a running test, by package and test
	pkgOut                  map[string][]string // what a running package will print when it ends
	pkgs                    []string            // packages with pending output, in order of appearance
	passed, failed, skipped int
	reasons                 map[string]int
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, out: map[string][]string{}, pkgOut: map[string][]string{}, reasons: map[string]int{}}
}

// read consumes events until r ends. A line that is not an event is printed as is
// (go test prints some build errors that way).
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(s.w, sc.Text())
			continue
		}
		s.event(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("go test -json output line %d: %w", line+1, err)
	}
	return nil
}

// event handles one event. Like go test, it prints a package's output (the failed
// tests' output, then its ok/FAIL line) when the package ends, so packages tested
// in parallel do not interleave.
func (s *summary) event(e event) {
	key := e.Package + "\x00" + e.Test
	switch {
	case e.Action == "build-output":
		fmt.Fprint(s.w, e.Output)
	case e.Test == "":
		s.packageEvent(e)
	case e.Action == "output":
		s.out[key] = append(s.out[key], e.Output)
	case e.Action == "pass":
		s.passed++
		delete(s.out, key)
	case e.Action == "fail":
		s.failed++
		for _, l := range s.out[key] {
			if !strings.HasPrefix(strings.TrimSpace(l), "=== ") {
				s.pkgPrint(e.Package, l)
			}
		}
		delete(s.out, key)
	case e.Action == "skip":
		s.skipped++
		s.reasons[skipReason(s.out[key])]++
		delete(s.out, key)
	}
}

func (s *summary) packageEvent(e event) {
	switch e.Action {
	case "output":
		if e.Output != "PASS\n" {
			s.pkgPrint(e.Package, e.Output)
		}
	case "pass", "fail", "skip":
		s.flush(e.Package)
	}
}

func (s *summary) pkgPrint(pkg, line string) {
	if _, ok := s.pkgOut[pkg]; !ok {
		s.pkgs = append(s.pkgs, pkg)
	}
	s.pkgOut[pkg] = append(s.pkgOut[pkg], line)
}

// flush prints what pkg collected.
func (s *summary) flush(pkg string) {
	for _, l := range s.pkgOut[pkg] {
		fmt.Fprint(s.w, l)
	}
	delete(s.pkgOut, pkg)
	s.pkgs = slices.DeleteFunc(s.pkgs, func(p string) bool { return p == pkg })
}

// logLine matches a t.Log/t.Skip line: "    file_test.go:12: message".
var logLine = regexp.MustCompile(`^\s+[^\s:]+\.go:\d+: (.*)$`)

// skipReason is the message of the last log line of a skipped test's output.
func skipReason(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		if m := logLine.FindStringSubmatch(strings.TrimRight(out[i], "\n")); m != nil {
			return m[1]
		}
	}
	return "(no reason given)"
}

// print writes the output of packages that never ended (go test was killed), the
// skip reasons, most frequent first, and the closing counts.
func (s *summary) print() {
	for len(s.pkgs) > 0 {
		s.flush(s.pkgs[0])
	}
	if s.skipped > 0 {
		fmt.Fprintf(s.w, "\nskipped %d of %d tests, by reason:\n", s.skipped, s.passed+s.failed+s.skipped)
		reasons := make([]string, 0, len(s.reasons))
		for r := range s.reasons {
			reasons = append(reasons, r)
		}
		sort.Slice(reasons, func(i, j int) bool {
			if s.reasons[reasons[i]] != s.reasons[reasons[j]] {
				return s.reasons[reasons[i]] > s.reasons[reasons[j]]
			}
			return reasons[i] < reasons[j]
		})
		for _, r := range reasons {
			fmt.Fprintf(s.w, "%6d  %s\n", s.reasons[r], r)
		}
	}
	fmt.Fprintf(s.w, "tests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
}
