package cli

import (
	"github.com/tocsin-iiot/tocsin/internal/fsutil"

	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/csaf"
)

func init() { register(newAdvisoryCmd) }

func newAdvisoryCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "advisory",
		Short: "Read and write CSAF 2.0 security advisories",
		Long: `Work with CSAF 2.0 security advisories (OASIS Common Security Advisory
Framework), the format suppliers and CISA publish industrial advisories in.

  inspect  summarise any CSAF 2.0 advisory: id, products, CVEs, CVSS scores
           (as written and as recomputed from the vector), remediations
  new      write a CSAF 2.0 advisory for one product and fixed version whose
           vendor_fix remediation points at the Tocsin release fixing it`,
		Example: `  tocsin advisory inspect icsa-24-004-01.json
  tocsin advisory new --id ACME-SA-2025-001 --title 'RCE in PLC firmware' \
      --product acme-plc --fixed-version 2.1.0 \
      --cvss 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' -o acme-sa-2025-001.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(newAdvisoryInspectCmd(), newAdvisoryNewCmd())
	return c
}

func newAdvisoryInspectCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Summarise a CSAF 2.0 advisory",
		Long: `Read a CSAF 2.0 advisory (FILE, or - for standard input) and print its id,
title, publisher, products, CVEs, CVSS scores, remediations and the Tocsin
releases its vendor_fix remediations point at.

Reading is lenient, as real advisories are messier than the standard's
examples: a field of the wrong JSON type is skipped with a warning. Each CVSS
score is shown as computed from its vector; where the file writes a different
base score, that is shown too. The maximum base score uses the computed
scores (the written one where a vector cannot be scored, e.g. CVSS v2).

--json prints an object whose first keys are "id", "title", "cves" (list),
"products" (count) and "max_base_score", followed by the details.

Input that is not JSON or not CSAF 2.x (no document.csaf_version or
document.category) is an error; files over 16 MiB are refused.`,
		Example: `  tocsin advisory inspect icsa-24-004-01.json
  tocsin advisory inspect --json icsa-24-004-01.json | jq .max_base_score
  curl -s https://example.com/advisory.json | tocsin advisory inspect -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readAdvisoryFile(cmd, args[0])
			if err != nil {
				return err
			}
			s, err := csaf.Inspect(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				return enc.Encode(newInspectJSON(s))
			}
			return printAdvisorySummary(cmd.OutOrStdout(), s)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newAdvisoryNewCmd() *cobra.Command {
	var p csaf.Params
	var out string
	c := &cobra.Command{
		Use:   "new --id ID --title T --product P --fixed-version V --cvss VECTOR -o FILE",
		Short: "Write a CSAF 2.0 advisory pointing at the Tocsin release that fixes it",
		Long: `Write a CSAF 2.0 security advisory (category csaf_security_advisory,
status final, version 1, released now) for one product:

  - product tree: the publisher, the product, the affected range "<V"
    (vers:generic/<V) and the fixed version V;
  - one vulnerability per --cve (or one without a CVE id), each with the
    CVSS score, known_affected/fixed product status and a vendor_fix
    remediation whose url is the Tocsin release id
    tocsin:release:<product>@<V> (or --release-id).

CSAF 2.0 scores only CVSS v2 and v3. A CVSS 4.0 vector is written into a
vulnerability note titled "CVSS v4.0" instead, which 'advisory inspect' reads.

--product must be a Tocsin product name (letters, digits, '.', '_', '-')
unless --release-id names the release explicitly. The publisher defaults to
"Tocsin" with namespace https://github.com/tocsin-iiot/tocsin; set both for a
real advisory. FILE is never overwritten; - writes to standard output.`,
		Example: `  tocsin advisory new --id ACME-SA-2025-001 --title 'RCE in PLC firmware' \
      --product acme-plc --fixed-version 2.1.0 \
      --cvss 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' \
      --cve CVE-2025-1001 --cve CVE-2025-1002 \
      --publisher-name 'ACME Industrial' --publisher-namespace https://acme.example \
      -o acme-sa-2025-001.json
  tocsin advisory new --id ACME-SA-2025-002 --title 'DoS in HMI' \
      --product 'ACME HMI 7' --release-id acme-hmi@7.4.1 --fixed-version 7.4.1 \
      --cvss 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N' -o -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p.Time = time.Now().UTC()
			data, err := csaf.New(p)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if err := fsutil.WriteNew(out, data, 0o644); err != nil {
				return err
			}
			s, err := csaf.Inspect(data)
			if err != nil {
				return fmt.Errorf("re-reading the advisory written to %s: %w", out, err)
			}
			score := "no score"
			if len(s.Scores) > 0 && s.Scores[0].BaseScore != nil {
				score = fmt.Sprintf("%.1f %s", *s.Scores[0].BaseScore, s.Scores[0].Severity)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d CVE(s), %s, fixed by %s\n",
				out, s.ID, len(s.CVEs), score, strings.Join(s.FixedReleases, ", "))
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&p.ID, "id", "", "advisory id (document.tracking.id), e.g. ACME-SA-2025-001")
	f.StringVar(&p.Title, "title", "", "advisory title")
	f.StringVar(&p.Product, "product", "", "affected product")
	f.StringVar(&p.FixedVersion, "fixed-version", "", "first version that fixes the vulnerability")
	f.StringVar(&p.CVSS, "cvss", "", "CVSS 3.0, 3.1 or 4.0 vector")
	f.StringSliceVar(&p.CVEs, "cve", nil, "CVE id (repeatable, or comma separated)")
	f.StringVar(&p.PublisherName, "publisher-name", "", "publisher (vendor) name (default \""+csaf.DefaultPublisherName+"\")")
	f.StringVar(&p.PublisherNamespace, "publisher-namespace", "", "publisher namespace URL (default "+csaf.DefaultPublisherNamespace+")")
	f.StringVar(&p.ReleaseID, "release-id", "", "Tocsin release fixing it, <product>@<version> (default --product@--fixed-version)")
	f.StringVarP(&out, "out", "o", "", "output file, - for standard output")
	for _, name := range []string{"id", "title", "product", "fixed-version", "cvss", "out"} {
		_ = c.MarkFlagRequired(name)
	}
	return c
}

// readAdvisoryFile reads FILE or standard input ("-"), reading at most one
// byte more than csaf.MaxDocumentSize so that Inspect can refuse it.
func readAdvisoryFile(cmd *cobra.Command, path string) ([]byte, error) {
	return readInput(cmd, path, csaf.MaxDocumentSize+1)
}

// readInput reads a file or standard input ("-"), refusing directories and
// reading at most limit bytes.
func readInput(cmd *cobra.Command, path string, limit int64) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s is a directory", path)
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// inspectJSON is the --json output of advisory inspect: the five summary keys
// first, then the details.
type inspectJSON struct {
	ID                 string             `json:"id"`
	Title              string             `json:"title"`
	CVEs               []string           `json:"cves"`
	Products           int                `json:"products"`
	MaxBaseScore       float64            `json:"max_base_score"`
	Publisher          string             `json:"publisher"`
	Category           string             `json:"category"`
	CSAFVersion        string             `json:"csaf_version"`
	Version            string             `json:"version"`
	Status             string             `json:"status,omitempty"`
	CurrentReleaseDate string             `json:"current_release_date,omitempty"`
	ProductList        []csaf.Product     `json:"product_list"`
	Scores             []csaf.ScoreEntry  `json:"scores"`
	Remediations       []csaf.Remediation `json:"remediations"`
	FixedReleases      []string           `json:"fixed_releases"`
	Warnings           []string           `json:"warnings,omitempty"`
}

func newInspectJSON(s csaf.Summary) inspectJSON {
	return inspectJSON{
		ID:                 s.ID,
		Title:              s.Title,
		CVEs:               s.CVEs,
		Products:           len(s.Products),
		MaxBaseScore:       s.MaxBaseScore,
		Publisher:          s.Publisher,
		Category:           s.Category,
		CSAFVersion:        s.CSAFVersion,
		Version:            s.Version,
		Status:             s.Status,
		CurrentReleaseDate: s.CurrentReleaseDate,
		ProductList:        s.Products,
		Scores:             s.Scores,
		Remediations:       s.Remediations,
		FixedReleases:      s.FixedReleases,
		Warnings:           s.Warnings,
	}
}

// printAdvisorySummary writes the human summary of an advisory.
func printAdvisorySummary(w io.Writer, s csaf.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	orNone := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return flatText(s)
	}

	line("ID:\t%s", orNone(s.ID))
	line("Title:\t%s", orNone(s.Title))
	pub := orNone(s.Publisher)
	if s.PublisherCategory != "" {
		pub += " (" + flatText(s.PublisherCategory) + ")"
	}
	line("Publisher:\t%s", pub)
	ver := orNone(s.Version)
	if s.Status != "" {
		ver += " (" + flatText(s.Status) + ")"
	}
	if s.CurrentReleaseDate != "" {
		ver += ", " + flatText(s.CurrentReleaseDate)
	}
	line("Version:\t%s", ver)
	line("Category:\t%s, CSAF %s", flatText(s.Category), flatText(s.CSAFVersion))
	cves := "(none)"
	if len(s.CVEs) > 0 {
		cves = flatText(strings.Join(s.CVEs, ", "))
	}
	line("CVEs:\t%s", cves)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(tw, "\nProducts (%d):\n", len(s.Products))
	for _, p := range s.Products {
		line("  %s\t%s", flatText(p.ID), orNone(p.Name))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(tw, "\nCVSS scores (%d, max base score %.1f):\n", len(s.Scores), s.MaxBaseScore)
	for _, e := range s.Scores {
		score := "-"
		if e.BaseScore != nil {
			score = fmt.Sprintf("%.1f %s", *e.BaseScore, e.Severity)
		}
		var note []string
		if e.FileBaseScore != nil && (e.BaseScore == nil || e.Mismatch()) {
			note = append(note, fmt.Sprintf("the file says %.1f", *e.FileBaseScore))
		}
		if e.Error != "" {
			note = append(note, e.Error)
		}
		if e.Source == csaf.SourceNote {
			note = append(note, "from a note")
		}
		extra := ""
		if len(note) > 0 {
			extra = "  (" + flatText(strings.Join(note, "; ")) + ")"
		}
		line("  %s\t%s\t%s%s", orNone(e.CVE), score, orNone(e.Vector), extra)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// Advisories repeat one remediation for each CVE: print each distinct
	// remediation once, with the CVEs it applies to.
	type remKey struct{ category, details, url string }
	var order []remKey
	cvesOf := map[remKey][]string{}
	for _, r := range s.Remediations {
		k := remKey{r.Category, r.Details, r.URL}
		if _, ok := cvesOf[k]; !ok {
			order = append(order, k)
			cvesOf[k] = nil
		}
		if r.CVE != "" && !slices.Contains(cvesOf[k], r.CVE) {
			cvesOf[k] = append(cvesOf[k], r.CVE)
		}
	}
	fmt.Fprintf(w, "\nRemediations (%d, %d distinct):\n", len(s.Remediations), len(order))
	for _, k := range order {
		head := "  " + orNone(k.category)
		if c := cvesOf[k]; len(c) > 0 {
			head += " [" + flatText(strings.Join(c, ", ")) + "]"
		}
		fmt.Fprintf(w, "%s: %s\n", head, orNone(k.details))
		if k.url != "" {
			fmt.Fprintf(w, "      %s\n", flatText(k.url))
		}
	}

	if len(s.FixedReleases) > 0 {
		fmt.Fprintf(w, "\nFixed by Tocsin release: %s\n", strings.Join(s.FixedReleases, ", "))
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", flatText(warn))
	}
	return nil
}

// flatText puts a document string on one line: control characters (newlines,
// tabs, escape sequences) become spaces, runs of spaces collapse.
func flatText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
