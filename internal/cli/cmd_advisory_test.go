package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/cli"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

const advisoryVector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

func advisoryNewArgs(out string, extra ...string) []string {
	return append([]string{"advisory", "new",
		"--id", "ACME-SA-2025-001",
		"--title", "Remote code execution in ACME PLC firmware",
		"--product", "acme-plc",
		"--fixed-version", "2.1.0",
		"--cvss", advisoryVector,
		"--cve", "CVE-2025-1002", "--cve", "CVE-2025-1001",
		"--publisher-name", "ACME Industrial",
		"--publisher-namespace", "https://acme.example",
		"-o", out,
	}, extra...)
}

func TestAdvisoryNewAndInspectCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acme-sa-2025-001.json")
	code, out, errOut := cvssCmdRun(t, advisoryNewArgs(path)...)
	if code != 0 || errOut != "" {
		t.Fatalf("advisory new: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, path) || !strings.Contains(out, "tocsin:release:acme-plc@2.1.0") || strings.Count(out, "\n") != 1 {
		t.Errorf("advisory new printed %q", out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// Never overwrites.
	code, out, errOut = cvssCmdRun(t, advisoryNewArgs(path)...)
	assertOneLineError(t, code, out, errOut, "already exists")
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Error("advisory new changed an existing file")
	}

	// --json: the five summary keys first, values from the parameters.
	code, out, errOut = cvssCmdRun(t, "advisory", "inspect", "--json", path)
	if code != 0 || errOut != "" {
		t.Fatalf("advisory inspect --json: exit %d, stderr %q", code, errOut)
	}
	if keys := jsonKeys(t, out); len(keys) < 5 || !slices.Equal(keys[:5], []string{"id", "title", "cves", "products", "max_base_score"}) {
		t.Errorf("JSON keys %v", keys)
	}
	var sum struct {
		ID            string   `json:"id"`
		Title         string   `json:"title"`
		CVEs          []string `json:"cves"`
		Products      int      `json:"products"`
		MaxBaseScore  float64  `json:"max_base_score"`
		FixedReleases []string `json:"fixed_releases"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	want, _ := cvss.Score(advisoryVector)
	if sum.ID != "ACME-SA-2025-001" || sum.Title != "Remote code execution in ACME PLC firmware" ||
		!slices.Equal(sum.CVEs, []string{"CVE-2025-1001", "CVE-2025-1002"}) || sum.Products != 2 ||
		sum.MaxBaseScore != want.BaseScore || !slices.Equal(sum.FixedReleases, []string{"tocsin:release:acme-plc@2.1.0"}) {
		t.Errorf("inspect --json: %+v", sum)
	}

	// Human summary.
	code, out, errOut = cvssCmdRun(t, "advisory", "inspect", path)
	if code != 0 || errOut != "" {
		t.Fatalf("advisory inspect: exit %d, stderr %q", code, errOut)
	}
	for _, s := range []string{"ACME-SA-2025-001", "Remote code execution in ACME PLC firmware", "ACME Industrial",
		"CVE-2025-1001, CVE-2025-1002", "acme-plc <2.1.0", "9.8 CRITICAL", advisoryVector, "vendor_fix",
		"Fixed by Tocsin release: tocsin:release:acme-plc@2.1.0"} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
}

func TestAdvisoryNewToStdout(t *testing.T) {
	const vec40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"
	code, out, errOut := cvssCmdRun(t, "advisory", "new", "--id", "X-1", "--title", "DoS", "--product", "ACME HMI 7",
		"--release-id", "acme-hmi@7.4.1", "--fixed-version", "7.4.1", "--cvss", vec40, "-o", "-")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	s, err := csaf.Inspect([]byte(out))
	if err != nil {
		t.Fatalf("stdout is not a CSAF document: %v", err)
	}
	want, _ := cvss.Score(vec40)
	if s.ID != "X-1" || len(s.Scores) != 1 || s.Scores[0].Vector != vec40 || s.MaxBaseScore != want.BaseScore ||
		!slices.Equal(s.FixedReleases, []string{"tocsin:release:acme-hmi@7.4.1"}) {
		t.Errorf("summary %+v", s)
	}
}

func TestAdvisoryCommandErrors(t *testing.T) {
	dir := t.TempDir()
	notCSAF := filepath.Join(dir, "sbom.json")
	if err := os.WriteFile(notCSAF, []byte(`{"bomFormat": "CycloneDX"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("{\"document\": \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.json")
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"not CSAF":        {[]string{"advisory", "inspect", notCSAF}, "not a CSAF 2.0 document"},
		"invalid JSON":    {[]string{"advisory", "inspect", garbage}, "invalid JSON"},
		"missing file":    {[]string{"advisory", "inspect", filepath.Join(dir, "nope.json")}, "no such file"},
		"directory":       {[]string{"advisory", "inspect", dir}, "is a directory"},
		"no file":         {[]string{"advisory", "inspect"}, "accepts 1 arg"},
		"missing flags":   {[]string{"advisory", "new", "--id", "X"}, `required flag(s) "cvss", "fixed-version", "out", "product", "title" not set`},
		"bad vector":      {advisoryNewArgs(out, "--cvss", "CVSS:3.1/AV:N"), "invalid CVSS vector"},
		"bad CVE":         {advisoryNewArgs(out, "--cve", "CVE-1"), "CVE id"},
		"bad product":     {append(advisoryNewArgs(out), "--product", "ACME PLC"), "release id"},
		"bad id":          {append(advisoryNewArgs(out), "--id", "two words"), "id"},
		"unknown flag":    {append(advisoryNewArgs(out), "--severity", "high"), "unknown flag"},
		"unknown command": {[]string{"advisory", "delete"}, "unknown command"},
	} {
		code, stdout, stderr := cvssCmdRun(t, c.args...)
		t.Run(name, func(t *testing.T) { assertOneLineError(t, code, stdout, stderr, c.want) })
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed advisory new left %s behind", out)
	}
}

func TestAdvisoryInspectSharedFile(t *testing.T) {
	// Facts read off the OASIS example bsi-2022-0001.
	path := "../../../shared/testdata/csaf/oasis/bsi-2022-0001.json"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared CSAF test data not available: %v", err)
	}
	code, out, errOut := cvssCmdRun(t, "advisory", "inspect", "--json", path)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var sum struct {
		ID           string   `json:"id"`
		CVEs         []string `json:"cves"`
		Products     int      `json:"products"`
		MaxBaseScore float64  `json:"max_base_score"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.ID != "BSI-2022-0001" || !slices.Equal(sum.CVEs, []string{"CVE-2022-27193"}) || sum.Products != 6 || sum.MaxBaseScore != 6.1 {
		t.Errorf("summary %+v", sum)
	}
}

func TestAdvisoryAndCVSSHelp(t *testing.T) {
	root := cli.NewRoot()
	var cmds []*cobra.Command
	for _, path := range [][]string{{"cvss"}, {"advisory"}, {"advisory", "inspect"}, {"advisory", "new"}} {
		c, _, err := root.Find(path)
		if err != nil || c.Name() != path[len(path)-1] {
			t.Fatalf("command %v not registered (%v)", path, err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%s: Short, Long and Example must all be set", c.CommandPath())
		}
	}
}
