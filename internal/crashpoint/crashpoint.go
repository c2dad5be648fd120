package crashpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The write points, in the order a release passes them on a device.
const (
	DocsCommitted   = "docs-committed"   // signed documents and trust state saved
	ReleaseImported = "release-imported" // a seed chunked and stored a release
	ProgressSaved   = "progress-saved"   // a release's lifecycle record saved
	FileAssembled   = "file-assembled"   // the verified file renamed into place
	AuditAppended   = "audit-appended"   // an audit record appended and synced
	InstallerRan    = "installer-ran"    // the installer returned, nothing recorded yet
	InstalledSaved  = "installed-saved"  // the installed version saved
)

// Points lists every write point.
var Points = []string{DocsCommitted, ReleaseImported, ProgressSaved, FileAssembled, AuditAppended, InstallerRan, InstalledSaved}

// Env is the variable that arms a crash point.
const Env = "TOCSIN_CRASHPOINT"

var (
	once   sync.Once
	armed  atomic.Bool
	target string
	nth    int64
	hits   atomic.Int64
)

func load() {
	v := os.Getenv(Env)
	if v == "" {
		return
	}
	name, count, _ := strings.Cut(v, ":")
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 1 {
		n = 1
	}
	target, nth = name, n
	armed.Store(true)
}

// Hit kills the process with SIGKILL if the armed point is name and this
// is its n-th hit.
func Hit(name string) {
	once.Do(load)
	if !armed.Load() || name != target {
		return
	}
	if hits.Add(1) == nth {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill() // SIGKILL on Unix
		}
		select {} // the signal is on its way
	}
}
