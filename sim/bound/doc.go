// Package bound computes lower bounds on the time to distribute one file
// from a seed to a fleet of devices, so that simulated and measured rollouts
// can be reported against what is physically possible. Pure functions of the
// capacities given; standard library only.
//
// Three bounds, all in seconds, for a file of F bytes, one seed (server) with
// upload u_s, and N downloading devices with uploads u_i and a smallest
// download rate d_min (rates in bytes per second):
//
//   - Swarm.KumarRoss: the minimum distribution time of a peer-assisted
//     (peer-to-peer) system with a fluid model of the file,
//
//     T_KR = max(F/u_s, F/d_min, N·F/(u_s + Σ u_i)),
//
//     from R. Kumar and K. W. Ross, "Peer-Assisted File Distribution: The
//     Minimum Distribution Time", Proc. 1st IEEE Workshop on Hot Topics in Web
//     Systems and Technologies (HOTWEB), 2006. The bound is tight: a fluid
//     schedule achieves it.
//
//   - Swarm.Chunked: the minimum makespan when the file is cut into k equal
//     chunks that move whole, the seed and every device upload at the same
//     rate u and downloads are unconstrained (the uplink-sharing model),
//
//     T_chunk = (F/u)·(1 + ⌊log₂ N⌋/k),
//
//     from J. Mundinger, R. Weber and G. Weiss, "Optimal scheduling of
//     peer-to-peer file dissemination", Journal of Scheduling 11(2):105–120,
//     2008 (and Mundinger's Cambridge PhD thesis, 2005). As k grows it tends
//     to F/u, which is T_KR for the same equal capacities; the ⌊log₂ N⌋/k
//     term is the price of store-and-forward in chunks: a chunk must arrive
//     whole before it can be passed on, and the number of holders of the
//     first chunk can at most double per chunk time.
//
//   - Swarm.ClientServer: the time for the seed alone to serve every device,
//     max(N·F/u_s, F/d_min), the baseline of the same Kumar–Ross paper (and
//     of Kurose & Ross, Computer Networking, §2.5).
//
// With Tocsin's probe setting — 100 devices and a seed on symmetric
// 20 Mbit/s links, a 4 MiB release in 256 KiB blocks (k = 16) — T_KR is
// 1.68 s (also for 1,000 devices), T_chunk 2.31 s, and the client–server time
// 168 s.
//
// Rates and sizes are float64 so that fractional and very large values need
// no conversion; MbitPerSecond converts link speeds. Invalid input (N < 1, a
// non-positive file size or seed upload, a negative device upload, a
// non-positive download, NaN) is reported as an error wrapping ErrInvalid,
// never a panic.
package bound
