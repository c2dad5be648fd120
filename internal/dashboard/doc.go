// Package dashboard is the operator dashboard: one page of plain HTML,
// JavaScript and CSS, embedded in the binary and served by the node's HTTP
// API (node.ServeAPI) at "/". It loads nothing from the network at run time:
// no CDN, no web fonts, no third-party script. It reads the same JSON API
// (/api/v1/...) any other client uses, every 2 seconds.
//
// # What it shows
//
//   - Overview: this node (peer ID, role, group), connected peers, devices
//     reporting, advisories (and how many are overdue), the trusted root and
//     the freshness of the trust state (fresh, stale, behind, root-expired).
//   - Advisories sorted by delivery deadline, overdue ones highlighted, with
//     severity, CVSS base score, affected products and this device's
//     lifecycle state; and for each, Authorise (with an SIA reference, a
//     group and a reason) and Reject.
//   - Per-release rollout: this device's DAG fetch progress and lifecycle
//     (with its history), and the fleet view from the status reports:
//     devices per lifecycle state, per wave, and the overdue devices.
//   - Devices: one row per status report; a click shows the device's
//     products and every release's state on it.
//   - Peers grouped by zone (from the owner's roster, when there is one).
//   - The node's audit log, newest first.
//
// # Operator signing and the token
//
// Every state-changing request carries the API token (Authorization:
// Bearer). The dashboard asks for it once (a field in the header; the URL
// fragment #token=... fills it too, so a launcher can open a ready page)
// and keeps it in the tab's sessionStorage only. The token is not a
// signature: decisions are Ed25519-signed documents the whole fleet checks
// against the owner policy's operator keys. When the node was started with
// the local operator's key (node.WithOperatorKey, `--operator-key`), the
// Authorise and Reject buttons send the decision's fields and the node signs
// them on the operator's behalf; a node without that key accepts only
// documents signed elsewhere, which the dashboard can submit as pasted JSON
// ("Submit a signed document"). See node/api.go for the API and its rules.
//
// # Files
//
// index.html (the page's skeleton), app.js (polling, rendering, actions;
// everything is written with textContent, never as HTML), style.css. The
// Content-Security-Policy the API sends allows only these same-origin files.
package dashboard
