package server_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPooledRequestContext keeps the pooled *fasthttp.RequestCtx inside the
// handler that was given it. Fiber's c.Context() returns that object, which
// fasthttp resets and hands to the next request once the handler returns; it
// also satisfies context.Context, so it is easy to pass on by mistake — and
// a timer or goroutine derived from it (context.WithTimeout starts both)
// then reads it while fasthttp rewrites it: the data race that made the Redis
// rate-limit tests fail under -race at random. Contexts come from
// c.UserContext(); c.Context() is only ever the receiver of a method call
// (c.Context().Time()), never a value that is stored or passed.
//
// A use that must pass the RequestCtx itself (a fasthttp.RequestHandler that
// completes before the handler returns) says so with a "// pooled: <why>"
// comment on the same line.
func TestNoPooledRequestContext(t *testing.T) {
	// The gateway module and the shared pkg module, without tests.
	roots := []string{"../..", "../../../pkg"}
	fset := token.NewFileSet()
	var found []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			found = append(found, pooledContextValues(fset, f)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range found {
		t.Errorf("%s: c.Context() used as a value; take a context from c.UserContext(), and call methods on c.Context() only", f)
	}
}

// pooledContextValues lists the positions in f where x.Context() is called
// with no arguments and its result is used other than as a method receiver,
// except on lines carrying a "// pooled:" comment.
func pooledContextValues(fset *token.FileSet, f *ast.File) []string {
	allowed := map[int]bool{}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.HasPrefix(c.Text, "// pooled:") {
				allowed[fset.Position(c.Pos()).Line] = true
			}
		}
	}
	var out []string
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		if call, ok := n.(*ast.CallExpr); ok && isContextCall(call) {
			receiver := false
			if len(stack) > 0 {
				if sel, ok := stack[len(stack)-1].(*ast.SelectorExpr); ok && sel.X == call {
					receiver = true
				}
			}
			pos := fset.Position(call.Pos())
			if !receiver && !allowed[pos.Line] {
				out = append(out, pos.String())
			}
		}
		stack = append(stack, n)
		return true
	})
	return out
}

func isContextCall(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Context" && len(call.Args) == 0
}

// TestPooledContextValuesCatches is the check's positive control: the shape
// of the code that raced is reported, the fixed shape is not.
func TestPooledContextValuesCatches(t *testing.T) {
	for _, tc := range []struct {
		desc string
		src  string
		want int
	}{
		{"stored and passed (the race)", "fctx := c.Context()\nl.AllowAt(fctx, k, fctx.Time())", 1},
		{"passed directly", "g.Verify(c.Context(), tok)", 1},
		{"returned", "return c.Context()", 1},
		{"method receiver only", "l.AllowAt(c.UserContext(), k, c.Context().Time())", 0},
		{"chained receiver", "_ = c.Context().Request.Header.Peek(\"x\")", 0},
		{"marked as deliberate", "h(c.Context()) // pooled: h returns before the handler does", 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", "package x\nfunc f() {\n"+tc.src+"\n}\n", parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if got := pooledContextValues(fset, f); len(got) != tc.want {
				t.Errorf("found %v, want %d", got, tc.want)
			}
		})
	}
}
