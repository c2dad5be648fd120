package csaf

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzInspect: Inspect never panics, fails only with its sentinels, and what
// it reports is internally consistent. Seeds are small so a -fuzz run stays
// quick: go test ./internal/csaf/ -run '^$' -fuzz FuzzInspect -fuzztime 30s
func FuzzInspect(f *testing.F) {
	if doc, err := New(baseParams()); err == nil {
		f.Add(doc)
	}
	f.Add([]byte(`{"document":{"csaf_version":"2.0","category":"csaf_base","title":"t","tracking":{"id":"X","version":1}},` +
		`"product_tree":{"branches":[{"product":{"product_id":"P","name":"n"},"branches":[{"product":{"product_id":"Q"}}]}]},` +
		`"vulnerabilities":[{"cve":"CVE-2024-1","scores":[{"cvss_v3":{"vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":"9.8"}}],` +
		`"remediations":[{"category":"vendor_fix","url":"tocsin:release:a@1","product_ids":"P"}]}]}`))
	f.Add([]byte(`{"document":{"csaf_version":"2.0","category":"x"},"vulnerabilities":[{"notes":[{"title":"CVSS v4.0","text":"CVSS:4.0/AV:N"}]}]}`))
	f.Add([]byte(`{"document":"x"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	if data, err := os.ReadFile(filepath.Join(sharedCSAF, "oasis", "bsi-2022-0001.json")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The advisory view a device acts on: never panics, and what it
		// returns without error is a valid advisory.
		if a, err := Advisory(data); err == nil {
			if a.Seq == 0 || a.ReleaseID != a.Product+"@"+a.FixedVersion || a.BaseScore < 0 || a.BaseScore > 10 {
				t.Fatalf("inconsistent advisory view %+v", a)
			}
		}
		s, err := Inspect(data)
		if err != nil {
			if !errors.Is(err, ErrNotCSAF) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrNotCSAF nor ErrTooLarge", err)
			}
			return
		}
		if s.CSAFVersion == "" || s.Category == "" {
			t.Fatalf("accepted a document without csaf_version/category: %+v", s)
		}
		if !slices.IsSorted(s.CVEs) || len(slices.Compact(slices.Clone(s.CVEs))) != len(s.CVEs) {
			t.Fatalf("CVEs not sorted and unique: %q", s.CVEs)
		}
		if !slices.IsSorted(s.FixedReleases) {
			t.Fatalf("fixed releases not sorted: %q", s.FixedReleases)
		}
		for _, id := range s.FixedReleases {
			if _, _, ok := ParseReleaseID(id); !ok {
				t.Fatalf("malformed release id %q reported", id)
			}
		}
		ids := map[string]bool{}
		for _, p := range s.Products {
			if p.ID == "" || ids[p.ID] {
				t.Fatalf("empty or duplicate product id %q", p.ID)
			}
			ids[p.ID] = true
		}
		if s.MaxBaseScore < 0 || s.MaxBaseScore > 10 {
			t.Fatalf("max base score %v", s.MaxBaseScore)
		}
		for _, e := range s.Scores {
			if (e.BaseScore == nil) == (e.Error == "") {
				t.Fatalf("score entry with both or neither of a computed score and an error: %+v", e)
			}
			if e.BaseScore != nil && *e.BaseScore > s.MaxBaseScore {
				t.Fatalf("computed score %v above max %v", *e.BaseScore, s.MaxBaseScore)
			}
		}
	})
}
