// Command funclen lists the longest functions outside tests and fails when one is longer than
// the limit. `make lint` runs it over the repository:
//
//	go run ./tools/funclen -max 200 -top 5 .
package main

import (
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrTooLong reports functions above the limit.
var ErrTooLong = errors.New("functions longer than the limit")

// Func is one function declaration or literal and its length in lines.
type Func struct {
	Name  string
	Pos   token.Position
	Lines int
}

func main() {
	limit := flag.Int("max", 200, "fail when a function outside tests has more lines than this")
	top := flag.Int("top", 5, "list this many of the longest functions")
	flag.Parse()
	roots := flag.Args()
	if len(roots) == 0 {
		roots = []string{"."}
	}
	if err := run(roots, *limit, *top); err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(1)
	}
}

func run(roots []string, limit, top int) error {
	var all []Func
	for _, root := range roots {
		funcs, err := Walk(root)
		if err != nil {
			return err
		}
		all = append(all, funcs...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Lines > all[j].Lines })
	for i := 0; i < top && i < len(all); i++ {
		fmt.Printf("%5d %s %s\n", all[i].Lines, all[i].Pos, all[i].Name)
	}
	var over int
	for _, f := range all {
		if f.Lines > limit {
			fmt.Fprintf(os.Stderr, "funclen: %s %s has %d lines (max %d)\n", f.Pos, f.Name, f.Lines, limit)
			over++
		}
	}
	if over > 0 {
		return fmt.Errorf("%d %w %d", over, ErrTooLong, limit)
	}
	return nil
}

// Walk returns every top-level function of the non-test Go files under root, skipping
// hidden and vendor folders.
func Walk(root string) ([]Func, error) {
	var funcs []Func
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "vendor" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		funcs = append(funcs, FileFuncs(fset, f)...)
		return nil
	})
	return funcs, err
}

// FileFuncs returns the function declarations of one parsed file with their lengths.
func FileFuncs(fset *token.FileSet, f *ast.File) []Func {
	var funcs []Func
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		start := fset.Position(fd.Pos())
		end := fset.Position(fd.End())
		funcs = append(funcs, Func{Name: funcName(fd), Pos: start, Lines: end.Line - start.Line + 1})
	}
	return funcs
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}
