// Package crashpoint lets the reliability suite kill a process at an exact
// write point, so that "SIGKILL at every write point" is a loop over names
// rather than a race with a timer.
//
// Set TOCSIN_CRASHPOINT=<name> (or <name>:<n> for the n-th time the point
// is reached, default the first) and the process sends itself SIGKILL when
// it gets there. Without the variable, Hit costs one atomic load. The
// names are listed in Points; the code calls Hit right after each durable
// write (state file saved, documents committed, audit record appended,
// file assembled, release imported).
//
// What may not live here: anything else. This package imports only the
// standard library and is imported by the node and the seed.
package crashpoint
