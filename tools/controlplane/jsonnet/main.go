// tether-jsonnet evaluates the *.jsonnet files of a directory source with go-jsonnet,
// confined to the repository.
//
// The jsonnet CLI's file importer reads whatever path an import names: an absolute
// path, a `..` that leaves the repository, a symbolic link to any file of the machine
// (`importstr "/etc/passwd"`). This program evaluates with an importer that refuses all
// three, and registers no native functions. It is run by tether like helm and
// kustomize (no network, a bare environment, a deadline, bounded output and memory).
//
// Usage: tether-jsonnet REQUEST.json
//
// The request names the repository root, the application directory, the files to
// evaluate (absolute paths inside the root), the library directories (-J), the
// external variables and top-level arguments, and the largest file an import may read.
// On success stdout holds one JSON array with the value of each file, in order. On
// failure the program exits 1 after one line `Error: FILE: MESSAGE` on stderr.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	jsonnet "github.com/google/go-jsonnet"
)

type variable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Code  bool   `json:"code"`
}

type request struct {
	Root         string     `json:"root"`
	AppDir       string     `json:"appDir"`
	Files        []string   `json:"files"`
	Libs         []string   `json:"libs"`
	ExtVars      []variable `json:"extVars"`
	TLAs         []variable `json:"tlas"`
	MaxFileBytes int64      `json:"maxFileBytes"`
	MaxStack     int        `json:"maxStack"`
}

type cached struct {
	contents jsonnet.Contents
	found    bool
}

// confinedImporter resolves imports as go-jsonnet's FileImporter does (the importing
// file's directory first, then the library paths, the last one first), but only to
// regular files whose real path is inside the root.
type confinedImporter struct {
	root     string
	appDir   string
	libs     []string
	topLevel map[string]bool
	maxBytes int64
	cache    map[string]cached
}

func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

func (imp *confinedImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	if filepath.IsAbs(importedPath) {
		// Only the files tether asked for are named absolutely (as the entry points).
		if importedFrom == "" && imp.topLevel[importedPath] {
			return imp.read(importedPath, importedPath)
		}
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: absolute import paths are not allowed (import files of the repository by relative path)", importedPath)
	}
	dir := imp.appDir // code given as an external variable imports from the app directory
	if importedFrom != "" {
		dir = filepath.Dir(importedFrom)
	}
	candidates := []string{filepath.Join(dir, importedPath)}
	for i := len(imp.libs) - 1; i >= 0; i-- {
		candidates = append(candidates, filepath.Join(imp.libs[i], importedPath))
	}
	for _, candidate := range candidates {
		if !inside(imp.root, candidate) {
			return jsonnet.Contents{}, "", fmt.Errorf("import %q leads outside the repository", importedPath)
		}
		contents, err := imp.lookup(candidate, importedPath)
		if err != nil {
			return jsonnet.Contents{}, "", err
		}
		if contents.found {
			return contents.contents, candidate, nil
		}
	}
	return jsonnet.Contents{}, "", fmt.Errorf("couldn't open import %q: no match locally or in the library paths", importedPath)
}

func (imp *confinedImporter) read(path, named string) (jsonnet.Contents, string, error) {
	contents, err := imp.lookup(path, named)
	if err != nil {
		return jsonnet.Contents{}, "", err
	}
	if !contents.found {
		return jsonnet.Contents{}, "", fmt.Errorf("%s: not found", named)
	}
	return contents.contents, path, nil
}

// lookup reads a candidate once (go-jsonnet requires the same Contents for the same
// path), refusing symbolic links that lead out of the root and non-regular files.
func (imp *confinedImporter) lookup(path, named string) (cached, error) {
	if entry, ok := imp.cache[path]; ok {
		return entry, nil
	}
	entry, err := imp.load(path, named)
	if err != nil {
		return cached{}, err
	}
	imp.cache[path] = entry
	return entry, nil
}

func (imp *confinedImporter) load(path, named string) (cached, error) {
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cached{}, nil
	}
	if err != nil {
		return cached{}, fmt.Errorf("import %q: %v", named, err)
	}
	if !inside(imp.root, real) {
		return cached{}, fmt.Errorf("import %q is a symbolic link pointing outside the repository", named)
	}
	info, err := os.Stat(real)
	if err != nil {
		return cached{}, fmt.Errorf("import %q: %v", named, err)
	}
	if !info.Mode().IsRegular() {
		return cached{}, fmt.Errorf("import %q is not a regular file", named)
	}
	if imp.maxBytes > 0 && info.Size() > imp.maxBytes {
		return cached{}, fmt.Errorf("import %q is %d bytes, larger than the limit of %d per file", named, info.Size(), imp.maxBytes)
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return cached{}, fmt.Errorf("import %q: %v", named, err)
	}
	return cached{contents: jsonnet.MakeContentsRaw(data), found: true}, nil
}

// oneLine keeps the message and the innermost location of a go-jsonnet error.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	message := strings.TrimSpace(lines[0])
	for _, line := range lines[1:] {
		if frame := strings.TrimSpace(line); frame != "" {
			location := strings.Fields(frame)[0]
			return fmt.Sprintf("%s (at %s)", message, location)
		}
	}
	return message
}

func fail(format string, args ...any) {
	message := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
	fmt.Fprintf(os.Stderr, "Error: %s\n", message)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: tether-jsonnet REQUEST.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("read request: %v", err)
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		fail("parse request: %v", err)
	}
	importer := &confinedImporter{
		root:     filepath.Clean(req.Root),
		appDir:   filepath.Clean(req.AppDir),
		topLevel: map[string]bool{},
		maxBytes: req.MaxFileBytes,
		cache:    map[string]cached{},
	}
	for _, lib := range req.Libs {
		importer.libs = append(importer.libs, filepath.Clean(lib))
	}
	for _, file := range req.Files {
		importer.topLevel[file] = true
	}
	vm := jsonnet.MakeVM()
	if req.MaxStack > 0 {
		vm.MaxStack = req.MaxStack
	}
	vm.Importer(importer)
	for _, v := range req.ExtVars {
		if v.Code {
			vm.ExtCode(v.Name, v.Value)
		} else {
			vm.ExtVar(v.Name, v.Value)
		}
	}
	for _, v := range req.TLAs {
		if v.Code {
			vm.TLACode(v.Name, v.Value)
		} else {
			vm.TLAVar(v.Name, v.Value)
		}
	}
	// go-jsonnet's output is JSON already: joined as it is, not decoded and re-encoded.
	values := make([]string, 0, len(req.Files))
	for _, file := range req.Files {
		output, err := vm.EvaluateFile(file)
		if err != nil {
			fail("%s: %s", file, oneLine(err))
		}
		values = append(values, output)
	}
	if _, err := os.Stdout.WriteString("[" + strings.Join(values, ",") + "]\n"); err != nil {
		fail("write output: %v", err)
	}
}
