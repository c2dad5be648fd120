// Package scenario describes a simulated fleet: its size and topology (sites,
// gateways and the controllers behind them), link classes, churn, seed
// outages, adversaries, the patch and the advisory rate; and the result every
// engine reports for it.
//
// Both engines (sim/stack runs the real node code in virtual time, sim/model
// is a flow-level event simulation) take the same Scenario and build the same
// Graph from it with Build, so their figures can be compared node for node.
// The result's bounds come from sim/bound.
//
// What lives here: the scenario file format (YAML, with sizes such as "4MiB",
// rates such as "20Mbit" and durations such as "10ms"), defaults,
// validation, the deterministic topology builder and the Result JSON.
//
// What may not: any network, store or node code. This package is pure data
// and arithmetic so that the model engine stays deterministic and cheap.
package scenario
