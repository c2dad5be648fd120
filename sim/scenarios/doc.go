// Package scenarios holds the built-in scenario files (*.yaml in this
// directory, embedded into the binary): the plant estate, the flat
// calibration fleet, the 100,000- and million-device scale runs, advisory
// only, churn, a seed outage, and the adversaries (silent devices, a Sybil
// eclipse, forgers, bad blocks), plus the slow-WAN run the reliability
// suite uses. Each file opens with a comment saying what it shows.
//
// Names lists them; Get parses one by name ("plant-1000" or
// "plant-1000.yaml") with scenario.Parse, so a built-in scenario gets the
// same defaults and validation as a file given on the command line.
//
// What lives here: the scenario files and the lookup. What may not: any
// engine, rendering or result code; a scenario that needs code to build is
// a sign the format in sim/scenario is missing a field.
package scenarios
