package main

import (
	"go/parser"
	"go/token"
	"testing"
)

func TestFileFuncs(t *testing.T) {
	src := `package p

func one() {}

type T struct{}

func (t *T) three() {
	_ = t
}

func (T) four() {
	go func() {
	}()
}

func decl()
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Func{{Name: "one", Lines: 1}, {Name: "T.three", Lines: 3}, {Name: "T.four", Lines: 4}}
	got := FileFuncs(fset, f)
	if len(got) != len(want) {
		t.Fatalf("got %d functions, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Name != w.Name || got[i].Lines != w.Lines {
			t.Errorf("function %d: got %s %d lines, want %s %d", i, got[i].Name, got[i].Lines, w.Name, w.Lines)
		}
	}
}
