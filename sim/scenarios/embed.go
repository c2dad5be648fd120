package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

//go:embed *.yaml
var files embed.FS

const ext = ".yaml"

// Names returns the built-in scenarios' names, the file names without
// .yaml, sorted.
func Names() []string {
	matches, err := fs.Glob(files, "*"+ext)
	if err != nil { // only for a malformed pattern
		panic(err)
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = strings.TrimSuffix(m, ext)
	}
	slices.Sort(names)
	return names
}

// Get parses the built-in scenario called name, given with or without
// .yaml. An unknown name gives an error wrapping fs.ErrNotExist that lists
// the known ones.
func Get(name string) (scenario.Scenario, error) {
	base := strings.TrimSuffix(name, ext)
	if base == "" || base != path.Base(base) || !slices.Contains(Names(), base) {
		return scenario.Scenario{}, fmt.Errorf("scenarios: no built-in scenario %q (have %s): %w", name, strings.Join(Names(), ", "), fs.ErrNotExist)
	}
	data, err := files.ReadFile(base + ext)
	if err != nil {
		return scenario.Scenario{}, fmt.Errorf("scenarios: %w", err)
	}
	s, err := scenario.Parse(data)
	if err != nil {
		return scenario.Scenario{}, fmt.Errorf("scenarios: %s%s: %w", base, ext, err)
	}
	return s, nil
}
