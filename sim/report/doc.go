// Package report renders simulation results for people: Write turns one or
// more scenario.Result values into a directory holding index.html and one
// SVG image per plot, readable without the JSON.
//
// The page gives, for each result, a summary table, a one-sentence plain
// reading ("the last device had the patch after 2.4 s, 1.4 times the
// physical minimum …"), the advisory delivery and patch completion CDFs
// against the Kumar–Ross and chunked bounds, seed and peer upload over time,
// and the patch bytes by source; with several results (the same scenario in
// the model and the stack engine) it overlays them and adds a calibration
// table. The page is self-contained: inline CSS, no scripts, no external
// assets, so it can be opened from disk or attached to a ticket.
//
// What lives here: formatting, plotting (gonum.org/v1/plot) and the HTML
// template. Output is deterministic: the same results give the same files.
//
// What may not: any simulation, or computing figures an engine should have
// reported. This package depends on sim/scenario and gonum/plot only, never
// on node, overlay or content; results are read, never changed.
package report
