package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	const skipMeta = `{"Action":"output","Package":"p/a","Test":"TestMeta","Output":"=== RUN   TestMeta\n"}
{"Action":"output","Package":"p/a","Test":"TestMeta","Output":"    meta_test.go:33: kernel feature xdp_metadata unavailable: refused\n"}
{"Action":"output","Package":"p/a","Test":"TestMeta","Output":"--- SKIP: TestMeta (0.20s)\n"}
{"Action":"skip","Package":"p/a","Test":"TestMeta"}
`
	tests := []struct {
		name     string
		in       string
		want     []string // lines that must appear, in order
		wantNot  []string
		failures int
	}{
		{
			name: "passes and a skip",
			in: `{"Action":"start","Package":"p/a"}
{"Action":"run","Package":"p/a","Test":"TestOK"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"    ok_test.go:9: chatter\n"}
{"Action":"pass","Package":"p/a","Test":"TestOK"}
` + skipMeta + `{"Action":"output","Package":"p/a","Output":"PASS\n"}
{"Action":"output","Package":"p/a","Output":"ok  \tp/a\t0.3s\n"}
{"Action":"pass","Package":"p/a"}
`,
			want:    []string{"ok  \tp/a\t0.3s", "skipped 1 of 2 tests, by reason:", "     1  kernel feature xdp_metadata unavailable: refused", "tests: 1 passed, 0 failed, 1 skipped"},
			wantNot: []string{"chatter", "PASS\n", "=== RUN"},
		},
		{
			name: "a failure prints its output",
			in: `{"Action":"output","Package":"p/b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"p/b","Test":"TestBad","Output":"    bad_test.go:5: want 1, got 2\n"}
{"Action":"output","Package":"p/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"p/b","Test":"TestBad"}
{"Action":"output","Package":"p/b","Output":"FAIL\n"}
{"Action":"output","Package":"p/b","Output":"FAIL\tp/b\t0.1s\n"}
{"Action":"fail","Package":"p/b"}
`,
			want:     []string{"    bad_test.go:5: want 1, got 2", "--- FAIL: TestBad (0.00s)", "FAIL\tp/b\t0.1s", "tests: 0 passed, 1 failed, 0 skipped"},
			wantNot:  []string{"skipped 0", "=== RUN"},
			failures: 1,
		},
		{
			name: "packages in parallel do not interleave",
			in: `{"Action":"output","Package":"p/x","Test":"TestX","Output":"    x_test.go:1: x broke\n"}
{"Action":"fail","Package":"p/x","Test":"TestX"}
{"Action":"output","Package":"p/y","Output":"ok  \tp/y\t0.1s\n"}
{"Action":"pass","Package":"p/y"}
{"Action":"output","Package":"p/x","Output":"FAIL\tp/x\t0.2s\n"}
{"Action":"fail","Package":"p/x"}
{"Action":"output","Package":"p/z","Output":"FAIL\tp/z (never ended)\n"}
`,
			want:     []string{"ok  \tp/y\t0.1s", "    x_test.go:1: x broke", "FAIL\tp/x\t0.2s", "FAIL\tp/z (never ended)", "tests: 0 passed, 1 failed"},
			failures: 1,
		},
		{
			name: "build failure and a plain line",
			in: `{"ImportPath":"p/c","Action":"build-output","Output":"c.go:3:1: syntax error\n"}
# not json
{"Action":"output","Package":"p/c","Output":"FAIL\tp/c [build failed]\n"}
`,
			want: []string{"c.go:3:1: syntax error", "# not json", "FAIL\tp/c [build failed]", "tests: 0 passed, 0 failed, 0 skipped"},
		},
		{
			name: "skips grouped, most first",
			in: skipMeta + strings.ReplaceAll(skipMeta, "TestMeta", "TestMeta2") +
				`{"Action":"output","Package":"p/a","Test":"TestRoot","Output":"    k.go:1: needs root\n"}
{"Action":"skip","Package":"p/a","Test":"TestRoot"}
{"Action":"skip","Package":"p/a","Test":"TestSilent"}
`,
			want: []string{"skipped 4 of 4 tests", "     2  kernel feature xdp_metadata", "     1  (no reason given)", "     1  needs root", "tests: 0 passed, 0 failed, 4 skipped"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			s := newSummary(&b)
			if err := s.read(strings.NewReader(tt.in)); err != nil {
				t.Fatal(err)
			}
			s.print()
			out := b.String()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(out[at:], w)
				if i < 0 {
					t.Fatalf("output lacks %q after offset %d:\n%s", w, at, out)
				}
				at += i + len(w)
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			if s.failed != tt.failures {
				t.Errorf("failed = %d, want %d", s.failed, tt.failures)
			}
		})
	}
}
