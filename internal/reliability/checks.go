package main

import "time"

// check is one row of the suite: a group of tests (or one fuzz target) run
// with `go test -json -count=1` in one package, what they inject, how many
// times, and what must hold.
type check struct {
	ID       string // row id: the check number and a letter
	Name     string // short title
	Pkg      string // package directory, e.g. "./node"
	Run      string // -run pattern (tests); empty for a fuzz target
	Fuzz     string // fuzz target name; run with -run '^$' -fuzz '^Fuzz$'
	Budget   time.Duration
	Injected string // what is injected
	Times    string // how many times (a test's "injected=N" figure replaces it)
	Holds    string // what must hold
	Quick    bool   // part of -quick
	Timeout  time.Duration
	Gap      string // not covered: why, and what it would need
}

const (
	testTimeout  = 5 * time.Minute
	netnsTimeout = 12 * time.Minute
	fuzzBudget   = 20 * time.Second
)

// checks is the suite, in the order of issue 9's list. Existing tests are
// mapped as they are; the reliability_*_test.go files add what was missing.
var checks = []check{
	// 1. Forged, unsigned, wrong-key and tampered documents.
	{ID: "1a", Name: "forged advisories over gossip", Pkg: "./node", Run: "^TestForgedAdvisoriesRejected$",
		Injected: "advisory: unknown key, tampered, unsigned, garbage", Times: "4",
		Holds: "0 stored, 0 accepted, 0 forwarded", Quick: true},
	{ID: "1b", Name: "attack bed: manifests, roots, heartbeats (also 2)", Pkg: "./node", Run: "^TestAttacksLeaveTrustedStateUnchanged$",
		Injected: "unsigned/unknown/wrong-role/out-of-scope keys, threshold faking, rollback, expiry, equivocation, mix-and-match, >1MiB, garbage", Times: "18 (x2)",
		Holds: "specific error each; trusted state unchanged; not forwarded", Quick: true},
	{ID: "1c", Name: "forger graylisted (production scoring)", Pkg: "./node", Run: "^TestForgerIsGraylisted$",
		Injected: "manifests signed by a rogue key, one peer", Times: "3",
		Holds: "peer below graylist; its genuine message then dropped", Quick: true},
	{ID: "1d", Name: "forgery matrix: every document type", Pkg: "./node", Run: "^TestReliabilityForgeryMatrix$",
		Injected: "manifest, advisory, heartbeat, recall, root, decision, roster: unsigned, unknown key, tampered, wrong role", Times: "28",
		Holds: "specific error; state unchanged; 0 forwarded"},
	{ID: "1e", Name: "forged decision via CLI (real processes)", Pkg: "./internal/e2e", Run: "^TestOperatorFlow$",
		Injected: "tocsin authorise signed with a key the policy lacks", Times: "1",
		Holds: "refused with an error; SIA flow and audit verify pass"},

	// 2. Attacks on the trusted state (the attack bed 1b covers rollback,
	// mix-and-match and threshold faking).
	{ID: "2a", Name: "freeze", Pkg: "./node", Run: "^TestFreezeReportsStale$",
		Injected: "heartbeats stop; heartbeat vouches for a withheld release; expired heartbeat replayed", Times: "3",
		Holds: "\"behind\", then \"stale, cannot confirm latest\"; ErrExpired; state unchanged"},
	{ID: "2b", Name: "fast-forward, recovery by rotation", Pkg: "./node", Run: "^TestFastForwardRecoveryAfterRotation$",
		Injected: "stolen release key signs seq 2^60", Times: "1",
		Holds: "genuine release refused (ErrRollback) until root v2; then mark reset, installs"},
	{ID: "2c", Name: "endless data", Pkg: "./node", Run: "^TestEndlessData$",
		Injected: "manifest claims 5 GiB; manifest understates a 3 MiB DAG", Times: "2",
		Holds: "ErrTooLarge before fetching / cut off < 2 MiB; nothing installed", Quick: true},
	{ID: "2d", Name: "wrong hardware and version", Pkg: "./node", Run: "^TestWrongHardwareAndVersion$",
		Injected: "release for other hardware; for other running versions", Times: "2",
		Holds: "never fetched; ErrWrongHardware / ErrNotApplicable", Quick: true},

	// 3. Replay.
	{ID: "3a", Name: "replay after the seen-cache expired", Pkg: "./node", Run: "^TestReplayAfterSeenCacheExpired$",
		Injected: "byte-identical current and older advisory, 62 s after (1 s seen-cache TTL)", Times: "2",
		Holds: "refused by sequence number; not forwarded (no re-broadcast)"},

	// 4. Sybils.
	{ID: "4a", Name: "Sybils: eclipse, censorship, cold boot, covert flash", Pkg: "./node", Run: "^TestReliabilitySybils$",
		Injected: "8 Sybil peers (20 honest devices) per attack, vs a no-attack run", Times: "4 attacks",
		Holds: "every honest device, victim included, gets the advisory (45 s)", Timeout: 6 * time.Minute},
	{ID: "4b", Name: "dense LAN: IPv4 vs one IPv6 /64 (no attack)", Pkg: "./node", Run: "^TestReliabilityDenseLAN$",
		Injected: "16 devices with 15 neighbours each", Times: "2 runs",
		Holds: "advisory by gossip to every device within 10 s"},

	// 5. Spam and floods.
	{ID: "5a", Name: "connection flood: unenrolled identities", Pkg: "./node", Run: "^TestFloodOfIdentities$",
		Injected: "identities dialling + 3 stream attempts each", Times: "500",
		Holds: "all refused before any stream; rcmgr < 64 MiB; neighbour installs"},
	{ID: "5b", Name: "want-list abuse", Pkg: "./node", Run: "^TestReliabilityWantlistAbuse$",
		Injected: "bitswap want-lists of 5,000 entries + 200 CIDs with 4 KiB digests", Times: "40",
		Holds: "<= 1,024 wants kept, 0 oversized; memory < 64 MiB; neighbour served"},
	{ID: "5c", Name: "IHAVE/IWANT/GRAFT flood", Pkg: "./node", Run: "^TestReliabilityGossipControlFlood$",
		Injected: "raw RPCs: IHAVE 5,000 ids, IWANT 5,000 ids, GRAFT, PRUNE", Times: "600",
		Holds: "IWANT answered <= 3x; spammer < -80; memory < 64 MiB; neighbour served"},
	{ID: "5d", Name: "stream flood from an admitted peer", Pkg: "./node", Run: "^TestReliabilityStreamFlood$",
		Injected: "streams held open: unnegotiated + sync/bitswap/gossipsub, 16 workers", Times: "continuous",
		Holds: "rcmgr <= max_memory; joining and connected devices served (30 s)"},

	// 6. Bad blocks.
	{ID: "6a", Name: "peer serving corrupted blocks", Pkg: "./node", Run: "^TestBadBlocksNeverStored$",
		Injected: "every data block served with a flipped byte, over real bitswap", Times: "all 8 leaves",
		Holds: "nothing bad stored; bad peer banned (disconnected, score -1000); fetch completes from the seed", Quick: true},

	// 7. Crashes.
	{ID: "7a", Name: "SIGKILL mid-download", Pkg: "./internal/e2e", Run: "^TestKillMidDownloadResumes$",
		Injected: "SIGKILL after >= 16 of 65 blocks", Times: "1",
		Holds: "resumes from stored blocks, none fetched again; verified install"},
	{ID: "7b", Name: "restart after install", Pkg: "./node", Run: "^TestRestartKeepsState$|^TestRecall$",
		Injected: "node closed and restarted after install / after a recall's rollback", Times: "2",
		Holds: "documents, progress, version kept; installer/rollback not run again"},
	{ID: "7c", Name: "SIGKILL at every write point", Pkg: "./internal/e2e", Run: "^TestReliabilityCrashpoints$",
		Injected: "SIGKILL via TOCSIN_CRASHPOINT: 7 write points, 5 later hits", Times: "12",
		Holds: "killed at the point; after restart installed once, file verified, audit verifies, accepted docs kept"},

	// 8. Installer failures.
	{ID: "8a", Name: "failing health check halts the rollout", Pkg: "./node", Run: "^TestFailingHealthCheckHaltsRollout$",
		Injected: "health check exits 3 on every wave-0 device", Times: "wave 0",
		Holds: "rollback runs, install-failed reported, wave 1 halted past its soak"},
	{ID: "8b", Name: "installer crashes (killed by a signal)", Pkg: "./node",
		Run:      "^TestReliabilityInstallerFailures$/^installer_(killed_by_SIGKILL|crashes_with_SIGSEGV)$",
		Injected: "installer killed by SIGKILL / SIGSEGV", Times: "wave 0 x2",
		Holds: "rollback runs, failure reported, no retry, wave 1 halted", Quick: true},
	{ID: "8c", Name: "installer hangs past its timeout", Pkg: "./node", Run: "^TestReliabilityInstallerFailures$/^installer_hangs_past_its_timeout$",
		Injected: "installer child sleeps 120 s, timeout 2 s", Times: "wave 0",
		Holds: "killed with its children at the timeout; failure reported < 15 s; rollback; halt"},

	// 9. Network faults between real processes (network namespaces).
	{ID: "9a", Name: "netns: 10% loss", Pkg: "./internal/e2e", Run: "^TestNetnsLossyFleet$",
		Injected: "10% of received packets dropped on every host", Times: "7 hosts",
		Holds: "6/6 devices install the verified 6 MiB release", Timeout: netnsTimeout},
	{ID: "9b", Name: "netns: partition heals (10% loss)", Pkg: "./internal/e2e", Run: "^TestNetnsPartitionHeals$",
		Injected: "fleet cut in two halves, then healed", Times: "1",
		Holds: "cut-off half converges after healing", Timeout: netnsTimeout},
	{ID: "9c", Name: "netns: 30% loss", Pkg: "./internal/e2e", Run: "^TestReliabilityNetnsLoss30$",
		Injected: "30% of received packets dropped on every host", Times: "7 hosts",
		Holds: "every device converges; installer runs once each", Timeout: netnsTimeout},
	{ID: "9d", Name: "netns: partition heals (30% loss)", Pkg: "./internal/e2e", Run: "^TestReliabilityNetnsPartition30$",
		Injected: "two halves cut apart, 30% loss, then healed", Times: "1",
		Holds: "every device converges; installer runs once each", Timeout: netnsTimeout},
	{ID: "9e", Name: "stack simulator: 50 ms +/- 5 ms delay, partition", Pkg: "./sim/stack", Run: "^TestReliabilityStackDelay$",
		Injected: "100 real nodes on simnet, 50 ms +/- 5 ms one-way latency; then also cut in two halves for 8 s", Times: "2 runs (+ a 10 ms baseline)",
		Holds: "every device gets the advisory and the verified release; the cut-off half only after the heal"},

	// 10. Fuzzing: every parser of network or file input.
	{ID: "10a", Name: "owner policy file", Pkg: "./policy", Fuzz: "FuzzParseOwnerPolicy"},
	{ID: "10b", Name: "delta patch", Pkg: "./content", Fuzz: "FuzzApplyDelta"},
	{ID: "10c", Name: "CAR bundle (air gap)", Pkg: "./content", Fuzz: "FuzzReadBundle"},
	{ID: "10d", Name: "DAG block links", Pkg: "./content", Fuzz: "FuzzReliabilityLinks"},
	{ID: "10e", Name: "CSAF advisory", Pkg: "./internal/csaf", Fuzz: "FuzzInspect"},
	{ID: "10f", Name: "CVSS vector", Pkg: "./internal/cvss", Fuzz: "FuzzScore"},
	{ID: "10g", Name: "signed envelopes (gossip, sync)", Pkg: "./internal/trust", Fuzz: "FuzzOpen"},
	{ID: "10h", Name: "manifest payload", Pkg: "./internal/trust", Fuzz: "FuzzManifest"},
	{ID: "10i", Name: "owner documents (decision, roster)", Pkg: "./internal/trust", Fuzz: "FuzzReliabilityOpenOwner"},
	{ID: "10j", Name: "trust_root file", Pkg: "./internal/trust", Fuzz: "FuzzReliabilityNewState"},
	{ID: "10k", Name: "public key file", Pkg: "./internal/trust", Fuzz: "FuzzReliabilityPublicKey"},
	{ID: "10l", Name: "sync framing", Pkg: "./overlay", Fuzz: "FuzzReliabilitySyncItems"},
	{ID: "10m", Name: "sync summary", Pkg: "./node", Fuzz: "FuzzReliabilitySyncSummary"},
	{ID: "10n", Name: "status report (gossip)", Pkg: "./node", Fuzz: "FuzzReliabilityStatusReport"},
	{ID: "10o", Name: "node config file", Pkg: "./node", Fuzz: "FuzzReliabilityConfig"},
	{ID: "10p", Name: "CLI bad input", Pkg: "./internal/e2e", Run: "^TestBadInput$",
		Injected: "bad flags, files, keys, configs to every command", Times: "27",
		Holds: "one line on stderr, non-zero exit, no panic"},

	// 11. Disks.
	{ID: "11a", Name: "disk full", Pkg: "./internal/e2e", Run: "^TestReliabilityDiskFull$",
		Injected: "data dir on a 2 MiB tmpfs, 8 MiB release; then grown to 128 MiB", Times: "1",
		Holds: "clear error, no crash; store intact; fetch completes once space returns"},
	{ID: "11b", Name: "read-only data dir", Pkg: "./internal/e2e", Run: "^TestReliabilityReadOnlyDataDir$",
		Injected: "ro bind mount: at start; under a running node during a fetch", Times: "2",
		Holds: "one-line error / error reported; nothing changed; installs once writable"},
}

// fuzzDefaults fills in what every fuzz row says.
func init() {
	for i := range checks {
		c := &checks[i]
		if c.Fuzz != "" {
			c.Injected = "mutated inputs: " + c.Fuzz
			c.Holds = "no panic; the target's invariants"
		}
	}
}
