package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

const policyExampleFile = "../../policy/testdata/owner-policy.yaml"

// policyGroupBlock returns the lines printed for one group.
func policyGroupBlock(t *testing.T, out, group string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "\ngroup "+group)
	if !ok {
		t.Fatalf("no block for group %s in:\n%s", group, out)
	}
	block, _, _ := strings.Cut(rest, "\n\n")
	return block
}

func TestPolicyCheckExample(t *testing.T) {
	// 2025-03-08 02:30 in Berlin, a Saturday: line-a's window is open,
	// line-b's closed.
	code, out, errOut := cvssCmdRun(t, "policy", "check", policyExampleFile, "--now", "2025-03-08T01:30:00Z")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	for _, want := range []string{
		policyExampleFile + ": valid owner policy, version 1, fleet acme-plant-3: 2 zones, 3 groups, 2 auto_authorise rules\n",
		"operator key: operator.pub: warning: ../../policy/testdata/operator.pub does not exist\n", // not shipped next to the example
		"rollout: waves 5%, 25%, 100% of the fleet, 24h soak between waves, halt when more than 10% of a wave's installations fail (and at least 1)\n",
		"advisory: SAMPLE-CRITICAL (built-in sample), release example-fw@1.0.1, severity CRITICAL, published 2025-03-08T01:30:00Z\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range []struct {
		group string
		want  []string
	}{
		{"line-a-plcs", []string{
			" (safety-related)\n",
			"zone:       cell-1, target SL 2\n",
			"mandatory:  yes, CRITICAL must be fixed at SL 2\n",
			"decision:   in-internal-test: safety-related group: awaiting an operator decision with a safety impact analysis reference",
			"windows:    inside maintenance window Sat 02:00-06:00 Europe/Berlin\n",
			"waves:      5% at authorisation, 25% 24h later, 100% 48h later",
		}},
		{"line-b-hmis", []string{
			"zone:       supervisory, target SL 3\n",
			"decision:   authorised: authorised automatically by auto_authorise rule 1 (line 49)",
			"windows:    outside maintenance windows Mon,Tue,Wed,Thu,Fri 22:00-02:00, Sun 00:00-24:00 Europe/Berlin; next opens Sun 2025-03-09 00:00 CET\n",
			"waves:      5% from 2025-03-08T01:30:00Z, 25% from 2025-03-09T01:30:00Z, 100% from 2025-03-10T01:30:00Z",
		}},
		{"historians", []string{
			"decision:   authorised: authorised automatically by auto_authorise rule 2 (line 51)",
			"windows:    no maintenance window, any time\n",
		}},
	} {
		block := policyGroupBlock(t, out, c.group)
		for _, want := range c.want {
			if !strings.Contains(block, want) {
				t.Errorf("group %s lacks %q:\n%s", c.group, want, block)
			}
		}
	}
}

func TestPolicyCheckSeverityAndRelease(t *testing.T) {
	code, out, errOut := cvssCmdRun(t, "policy", "check", policyExampleFile,
		"--severity", "medium", "--release", "acme-plc@2.1.0", "--now", "2025-03-05T12:00:00Z")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "release acme-plc@2.1.0, severity MEDIUM") {
		t.Errorf("advisory line missing:\n%s", out)
	}
	for group, want := range map[string][]string{
		"line-a-plcs": {"mandatory:  no, MEDIUM is below what SL 2 requires", "decision:   in-internal-test"},
		"line-b-hmis": {"mandatory:  yes, MEDIUM must be fixed at SL 3", "decision:   in-internal-test: awaiting an operator decision: no auto_authorise rule covers severity MEDIUM"},
		"historians":  {"mandatory:  yes", "decision:   in-internal-test"},
	} {
		block := policyGroupBlock(t, out, group)
		for _, w := range want {
			if !strings.Contains(block, w) {
				t.Errorf("group %s lacks %q:\n%s", group, w, block)
			}
		}
	}
}

func TestPolicyCheckAdvisoryFile(t *testing.T) {
	dir := t.TempDir()
	advPath := filepath.Join(dir, "acme-sa-2025-001.json")
	if code, _, errOut := cvssCmdRun(t, advisoryNewArgs(advPath)...); code != 0 {
		t.Fatalf("advisory new: exit %d, %s", code, errOut)
	}
	code, out, errOut := cvssCmdRun(t, "policy", "check", policyExampleFile, "--advisory", advPath)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "advisory: ACME-SA-2025-001 ("+advPath+"), release acme-plc@2.1.0, severity CRITICAL") {
		t.Errorf("advisory line missing:\n%s", out)
	}
	if block := policyGroupBlock(t, out, "historians"); !strings.Contains(block, "decision:   authorised") {
		t.Errorf("historians:\n%s", block)
	}
}

func TestPolicyCheckOperatorKeyFound(t *testing.T) {
	dir := t.TempDir()
	k, err := trust.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.WriteKeyPair(k, filepath.Join(dir, "operator.key"), filepath.Join(dir, "operator.pub")); err != nil {
		t.Fatal(err)
	}
	// Relative to the policy file, not to the working directory.
	policyPath := filepath.Join(dir, "owner.yaml")
	policyWriteFile(t, policyPath, "version: 1\noperator_keys: [operator.pub]\nzones:\n  - name: z\n    target_sl: 1\ngroups:\n  - name: g\n    zone: z\n")
	code, out, errOut := cvssCmdRun(t, "policy", "check", policyPath)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if want := "operator key: operator.pub (key id " + k.Public().KeyID() + ")\n"; !strings.Contains(out, want) || strings.Contains(out, "warning") {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

func policyWriteFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyCheckErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(policyExampleFile)
	if err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	policyWriteFile(t, typo, strings.Replace(string(good), "    windows: [\"Sat", "    windws: [\"Sat", 1))
	syntax := filepath.Join(dir, "syntax.yaml")
	policyWriteFile(t, syntax, "version: 1\nzones:\n  - name: cell-1\n    target_sl: 2\n   oops: x\n")
	zone := filepath.Join(dir, "zone.yaml")
	policyWriteFile(t, zone, strings.Replace(string(good), "zone: cell-1", "zone: cell-9", 1))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"policy", "check", typo}, typo + `: invalid policy file: line 34: unknown key "windws" in group "line-a-plcs"`},
		{[]string{"policy", "check", syntax}, syntax + ": invalid policy file: line 5: YAML syntax"},
		{[]string{"policy", "check", zone}, `line 27: group "line-a-plcs": unknown zone "cell-9"`},
		{[]string{"policy", "check", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"policy", "check", dir}, "is a directory"},
		{[]string{"policy", "check", policyExampleFile, "--severity", "SEVERE"}, "--severity must be NONE, LOW, MEDIUM, HIGH or CRITICAL"},
		{[]string{"policy", "check", policyExampleFile, "--release", "acme-plc"}, "--release must be PRODUCT@VERSION"},
		{[]string{"policy", "check", policyExampleFile, "--now", "tomorrow"}, "--now must be an RFC 3339 time"},
		{[]string{"policy", "check", policyExampleFile, "--advisory", filepath.Join(dir, "nope.json")}, "no such file"},
		{[]string{"policy", "check", policyExampleFile, "--advisory", typo, "--severity", "LOW"}, "none of the others can be"},
		{[]string{"policy", "check"}, "accepts 1 arg"},
	} {
		t.Run(strings.Join(c.args[2:], " "), func(t *testing.T) {
			code, out, errOut := cvssCmdRun(t, c.args...)
			assertOneLineError(t, code, out, errOut, c.want)
		})
	}
}

func TestPolicyCommandHelp(t *testing.T) {
	code, out, errOut := cvssCmdRun(t, "policy")
	if code != 0 || errOut != "" || !strings.Contains(out, "check") {
		t.Errorf("tocsin policy: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	code, out, _ = cvssCmdRun(t, "policy", "check", "--help")
	if code != 0 || !strings.Contains(out, "tocsin policy check owner-policy.yaml") || !strings.Contains(out, "safety_related") {
		t.Errorf("tocsin policy check --help: exit %d:\n%s", code, out)
	}
}
