// Package policy is the asset owner's and supplier's rules as pure code: what
// a device does with a verified advisory and release, the IEC 62443-2-3 patch
// lifecycle, the IEC 62443-4-1 delivery decision, the security-level rule and
// staged rollout.
//
// What lives here:
//   - match.go: whether an advisory applies to a device, and the next step
//     for one release on one device (fetch, install, wait, nothing), with
//     retry back-off.
//   - lifecycle.go: the patch lifecycle state machine and its records.
//   - delivery.go: the supplier's delivery class and deadline (SUM-5).
//   - seclevel.go: which severities are mandatory at each target SL.
//   - rollout.go: waves, soak times, halting, maintenance windows.
//   - compat.go: whether a release manifest fits the device (hardware id,
//     versions it applies to, expiry).
//   - owner.go: the asset owner's policy file (zones, groups, windows,
//     auto-authorisation, rollout) parsed with line-numbered errors, and the
//     decisions on it: Authorise (operator decisions, SIA references for
//     safety-related groups, auto rules) and InstallGate (window, wave,
//     halt).
//
// What may not: any I/O, network, disk, clock or global randomness. Time and
// randomness are arguments (the one exception: ParseOwnerPolicy loads each
// group's time zone once, so that the decisions stay pure). It may import the
// standard library, gopkg.in/yaml.v3 and Tocsin's other pure packages
// (internal/trust, internal/cvss) only; a test in internal/deptest enforces
// this.
package policy
