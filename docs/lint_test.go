package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pureFiles lists the protocol core: every non-test Go file of these
// directories (globbed, so a new core file is checked by default), the
// messaging files the core uses, and the simulator's files but its shell.
// They must stay deterministic (design.md, "The one idea").
var (
	pureDirs         = []string{"endpointstate", "failuredetector", "gossiper/core"}
	pureMessaging    = []string{"message.go", "codec.go", "decode.go"}
	forbiddenImports = []string{"net", "os", "log", "sync", "sync/atomic", "io/ioutil", "os/exec", "github.com/rs/zerolog", "github.com/hearsay-io/hearsay/seeds"}
	forbiddenTime    = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick"}
	// randConstructors are the only package-level math/rand functions a
	// pure file may call: building an injected source is fine, drawing
	// from the global one is not.
	randConstructors = []string{"New", "NewPCG", "NewChaCha8", "NewSource", "NewZipf"}
)

// simShell is the simulator's contact with the real world (the wall
// clock and heap size it reports) and its worker goroutines (which step
// different nodes' cores in parallel, the run the same for any number);
// the rest of gossiper/sim is as deterministic as the core it runs.
var simShell = []string{"wall.go", "workers.go"}

func root(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	require.NoError(t, err)
	return abs
}

func pureFileList(t *testing.T) []string {
	r := root(t)
	var files []string
	for _, d := range pureDirs {
		matches, err := filepath.Glob(filepath.Join(r, d, "*.go"))
		require.NoError(t, err)
		files = append(files, matches...)
	}
	for _, f := range pureMessaging {
		files = append(files, filepath.Join(r, "messaging", f))
	}
	simFiles, err := filepath.Glob(filepath.Join(r, "gossiper", "sim", "*.go"))
	require.NoError(t, err)
	for _, f := range simFiles {
		if !slices.Contains(simShell, filepath.Base(f)) {
			files = append(files, f)
		}
	}
	out := files[:0]
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			out = append(out, f)
		}
	}
	return out
}

// TestPurity fails if a pure file starts a goroutine, imports the network,
// the OS, sync or a logger, reads the clock, or draws from the global
// random source.
func TestPurity(t *testing.T) {
	files := pureFileList(t)
	require.Greater(t, len(files), 15)
	for _, f := range simShell {
		// A stale name here would exempt a future sim file by accident.
		require.FileExists(t, filepath.Join(root(t), "gossiper", "sim", f), "simShell names a file that does not exist")
	}
	for _, path := range files {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err, path)
		rel, _ := filepath.Rel(root(t), path)
		for _, problem := range impurities(fset, f) {
			t.Errorf("%s: %s", rel, problem)
		}
	}
}

// impurities returns what makes f impure.
func impurities(fset *token.FileSet, f *ast.File) []string {
	var problems []string
	names := map[string]string{} // local name -> import path
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if slices.Contains(forbiddenImports, path) {
			problems = append(problems, "imports "+path)
		}
		name := path[strings.LastIndex(path, "/")+1:]
		if path == "math/rand/v2" {
			name = "rand"
		}
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = path
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			problems = append(problems, fset.Position(n.Pos()).String()+": go statement")
		case *ast.SelectorExpr:
			pkg, ok := n.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch names[pkg.Name] {
			case "time":
				if slices.Contains(forbiddenTime, n.Sel.Name) {
					problems = append(problems, fset.Position(n.Pos()).String()+": time."+n.Sel.Name)
				}
			case "math/rand", "math/rand/v2":
				if !slices.Contains(randConstructors, n.Sel.Name) && ast.IsExported(n.Sel.Name) && !isType(n.Sel.Name) {
					problems = append(problems, fset.Position(n.Pos()).String()+": global rand."+n.Sel.Name)
				}
			}
		}
		return true
	})
	return problems
}

func isType(name string) bool {
	return slices.Contains([]string{"Rand", "Source", "PCG", "ChaCha8", "Zipf"}, name)
}

// TestPurityCheckCatches proves the lint can fail: an impure snippet is
// flagged on every count.
func TestPurityCheckCatches(t *testing.T) {
	src := `package x
import (
	"math/rand/v2"
	"net"
	"time"
)
var _ = net.IPv4len
func f() {
	go f()
	_ = time.Now()
	_ = rand.IntN(3)
	_ = rand.New(rand.NewPCG(1, 2))
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	require.NoError(t, err)
	problems := impurities(fset, f)
	assert.Len(t, problems, 4, "%v", problems)
}

// module is this module's import path; coreImports are the only packages
// of it the protocol core (gossiper/core) may import.
const module = "github.com/hearsay-io/hearsay"

var coreImports = []string{module + "/endpointstate", module + "/failuredetector", module + "/messaging"}

// TestCoreImports fails if a non-test file of gossiper/core imports a
// package of this module other than coreImports: the core knows neither
// of its shells (gossiper, gossiper/sim) nor seeds (design.md, "Two
// shells around one core").
func TestCoreImports(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root(t), "gossiper", "core", "*.go"))
	require.NoError(t, err)
	checked := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		require.NoError(t, err, path)
		checked++
		rel, _ := filepath.Rel(root(t), path)
		for _, problem := range moduleImports(f, coreImports) {
			t.Errorf("%s: %s", rel, problem)
		}
	}
	require.Greater(t, checked, 15, "gossiper/core's files")
}

// moduleImports returns f's imports of this module's packages that are
// not in allowed.
func moduleImports(f *ast.File, allowed []string) []string {
	var problems []string
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if (path == module || strings.HasPrefix(path, module+"/")) && !slices.Contains(allowed, path) {
			problems = append(problems, "imports "+path+" (the core may import only "+strings.Join(allowed, ", ")+")")
		}
	}
	return problems
}

// TestCoreImportsCheckCatches proves the import check can fail: the
// shell, seeds and the simulator are flagged, the allowed packages and
// the standard library are not.
func TestCoreImportsCheckCatches(t *testing.T) {
	src := `package core
import (
	"fmt"
	"github.com/hearsay-io/hearsay/endpointstate"
	"github.com/hearsay-io/hearsay/failuredetector"
	"github.com/hearsay-io/hearsay/gossiper"
	"github.com/hearsay-io/hearsay/gossiper/sim"
	"github.com/hearsay-io/hearsay/messaging"
	"github.com/hearsay-io/hearsay/seeds"
)`
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", src, parser.ImportsOnly)
	require.NoError(t, err)
	problems := moduleImports(f, coreImports)
	assert.Len(t, problems, 3, "%v", problems)
}

// TestExportedNamesDocumented fails for an exported top-level name without
// a doc comment, in every non-test file of the module.
func TestExportedNamesDocumented(t *testing.T) {
	r := root(t)
	count := 0
	err := filepath.WalkDir(r, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		rel, _ := filepath.Rel(r, path)
		for _, decl := range f.Decls {
			count++
			for _, name := range undocumented(decl) {
				t.Errorf("%s: exported %s has no doc comment", rel, name)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, count, 100)
}

func undocumented(decl ast.Decl) []string {
	var out []string
	switch d := decl.(type) {
	case *ast.FuncDecl:
		if d.Name.IsExported() && d.Doc == nil && (d.Recv == nil || receiverExported(d.Recv)) {
			out = append(out, d.Name.Name)
		}
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				if s.Name.IsExported() && d.Doc == nil && s.Doc == nil {
					out = append(out, s.Name.Name)
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() && d.Doc == nil && s.Doc == nil && s.Comment == nil {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	return out
}

func receiverExported(recv *ast.FieldList) bool {
	if len(recv.List) == 0 {
		return false
	}
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
