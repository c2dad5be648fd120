package report

import "html/template"

// pageTemplate is index.html: self-contained, inline CSS, no scripts.
var pageTemplate = template.Must(template.New(indexFile).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tocsin simulation: {{.Title}}</title>
<style>
:root { --ink: #1b1f24; --muted: #5b636e; --rule: #d8dde3; --band: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 62rem; padding: 1.5rem 1.25rem 3rem; color: var(--ink);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; }
h1 { font-size: 1.7rem; margin: 0.1rem 0 0.4rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 0.6rem; padding-bottom: 0.2rem; border-bottom: 1px solid var(--rule); }
.kicker { margin: 0; color: var(--muted); font-size: 0.85rem; letter-spacing: 0.06em; text-transform: uppercase; }
.desc { margin: 0.2rem 0; color: var(--muted); }
.reading { margin: 0.5rem 0; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; border-radius: 2px; vertical-align: -0.05em; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0; font-size: 0.92rem; }
th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th { background: var(--band); border-bottom: 2px solid var(--rule); }
tbody th { font-weight: 600; }
td { font-variant-numeric: tabular-nums; }
.key { display: block; font: 0.75rem/1.3 ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; color: var(--muted); font-weight: normal; }
tr.within td:last-child { color: #1a6b36; font-weight: 600; }
tr.outside { background: #fdeceb; }
tr.outside td:last-child { color: #a4231b; font-weight: 600; }
tr.na td { color: var(--muted); }
figure { margin: 1.2rem 0 1.8rem; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--rule); border-radius: 4px; background: #fff; }
figcaption { margin-top: 0.4rem; color: var(--muted); font-size: 0.92rem; }
.note { color: var(--muted); font-size: 0.92rem; }
.note.plots { padding: 0.5rem 0.75rem; background: var(--band); border-left: 3px solid var(--rule); color: var(--ink); }
details { margin: 0.5rem 0; }
summary { cursor: pointer; }
pre { overflow: auto; max-height: 32rem; padding: 0.75rem; background: var(--band); border-radius: 4px; font-size: 0.8rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.8rem; }
@media print { h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
</style>
</head>
<body>
<header>
<p class="kicker">Tocsin simulation report</p>
<h1>{{.Title}}</h1>
{{- range .Descriptions}}
<p class="desc">{{.}}</p>
{{- end}}
<p class="desc">{{len .Runs}} {{if eq (len .Runs) 1}}run{{else}}runs, overlaid{{end}}:{{range $i, $r := .Runs}}{{if $i}},{{end}} {{$r.Label}}{{end}}.</p>
</header>

<section id="reading">
<h2>In plain words</h2>
{{- range .Runs}}
<p class="reading"><span class="swatch" style="background: {{.Colour}}"></span><strong>{{.Label}}:</strong> {{.Reading}}{{with .Attacks}} {{.}}{{end}}</p>
{{- end}}
</section>

<section id="summary">
<h2>Summary</h2>
<table class="summary">
<thead><tr><th>figure</th>{{range .Runs}}<th><span class="swatch" style="background: {{.Colour}}"></span>{{.Label}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Summary}}
<tr><th scope="row">{{.Name}}<span class="key">{{.Key}}</span></th>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
<p class="note">Times are seconds of simulated time since the first advisory was published. Percentiles are over the honest devices that got there; the delivered and completed shares say how many did. T_KR is the Kumar–Ross bound, the physical minimum for these links; "one server alone" is the time the seed would need to send the patch to every device itself.</p>
</section>

<section id="plots">
<h2>Plots</h2>
{{- range .Notes}}
<p class="note plots">{{.}}</p>
{{- end}}
{{- range .Figures}}
<figure>
<img src="{{.File}}" alt="{{.Alt}}">
<figcaption>{{.Caption}}</figcaption>
</figure>
{{- end}}
</section>
{{with .Calibration}}
<section id="calibration">
<h2>Calibration</h2>
<p>Each run compared with <strong>{{.Reference}}</strong>, the reference: {{.Why}}. Relative difference is (run − reference) / reference; within 15% counts as agreeing.</p>
<table class="calibration">
<thead><tr><th>figure</th><th>run</th><th>reference ({{.Reference}})</th><th>run value</th><th>difference</th><th>verdict</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr class="{{.Class}}"><td>{{.Metric}}</td><td>{{.Other}}</td><td>{{.Ref}}</td><td>{{.Value}}</td><td>{{.Diff}}</td><td>{{.Verdict}}</td></tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}

<section id="scenario">
<h2>Scenario</h2>
{{- range .Runs}}
<details><summary>Scenario as run by {{.Label}} (JSON)</summary>
<pre>{{.Scenario}}</pre>
</details>
{{- end}}
</section>

<footer>Written by tocsin sim/report from the engines' result JSON.</footer>
</body>
</html>
`))
