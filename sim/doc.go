// Package sim will hold the simulator (issue 7): thousands of real nodes in
// virtual time (the stack engine) and a flow-level model for a million (the
// model engine), with scenarios and a report.
//
// What lives here today: sim/bound, the distribution bounds every figure is
// compared with (Kumar–Ross T_KR, the chunked bound T_chunk, client–server).
//
// What may not: the simulator runs the node's real code and decisions; it
// must not copy them. Scheduling and policy stay in content and policy.
package sim
