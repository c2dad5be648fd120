package seed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/progress"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Publication is what a supplier publishes: one release file and the CSAF
// advisory that points at it.
type Publication struct {
	SeedDir string // the seed's data dir (its control socket lives there)
	// KeyPath is the release role's signing key; AdvisoryKeyPath the
	// advisory role's (default: KeyPath, for a supplier whose root gives
	// one key both roles).
	KeyPath         string
	AdvisoryKeyPath string
	Product         string
	Version         string
	File            string
	ChunkSize       int // default content.ChunkSizeFor the file's size
	// Chunker, if set, cuts the file as content.ImportChunked says (e.g.
	// "rabin-16384-65536-262144" for content-defined leaves); ChunkSize is
	// then recorded as the largest leaf.
	Chunker string

	// Seq orders the product's releases; 0 means the publication time in
	// Unix milliseconds, which increases as long as the supplier's clock
	// does not go backwards.
	Seq       uint64
	Hardware  []string      // hardware ids the release is for (empty: any)
	AppliesTo []string      // version constraints it may be applied to (empty: any)
	ValidFor  time.Duration // manifest lifetime; default 365 days

	AdvisoryID string // default TSA-<product>-<version>
	Title      string // default "Security update for <product>"
	CVSS       string // CVSS 3.x/4.0 vector (required: the advisory is scored CSAF)
	CVEs       []string
	Deadline   time.Time
	Publisher  string // CSAF publisher name; default csaf.DefaultPublisherName

	// DeltaFrom is the file of the previous version DeltaFromVersion: when
	// set, a delta from it is published with the release, so devices
	// running that version fetch a patch instead of the whole file.
	DeltaFrom        string
	DeltaFromVersion string

	// StartSeed, if no seed runs on SeedDir, starts one in the background
	// (the same binary, `tocsin seed`) trusting RootPath, with these listen
	// addresses.
	StartSeed bool
	RootPath  string
	Listen    []string
	Now       time.Time

	// Progress, if set, shows a progress bar (bytes, rate, ETA) while the
	// release file is chunked and hashed; it draws only on a terminal
	// (internal/progress), so a pipe or a log stays clean. nil: none.
	Progress io.Writer
}

// Publish signs a release manifest and a CSAF advisory and hands them to
// the seed on p.SeedDir, starting the seed first if p.StartSeed and none
// runs.
func Publish(ctx context.Context, p Publication) (Result, error) {
	key, err := trust.LoadPrivateKey(p.KeyPath)
	if err != nil {
		return Result{}, err
	}
	advKey := key
	if p.AdvisoryKeyPath != "" && p.AdvisoryKeyPath != p.KeyPath {
		if advKey, err = trust.LoadPrivateKey(p.AdvisoryKeyPath); err != nil {
			return Result{}, err
		}
	}
	file, err := filepath.Abs(p.File)
	if err != nil {
		return Result{}, fmt.Errorf("release file: %w", err)
	}
	if p.ChunkSize == 0 {
		p.ChunkSize = content.DefaultChunkSize
		if fi, err := os.Stat(file); err == nil && fi.Mode().IsRegular() {
			p.ChunkSize = content.ChunkSizeFor(fi.Size())
		}
	}
	spec := p.Chunker
	if spec == "" {
		spec = fmt.Sprintf("size-%d", p.ChunkSize)
	} else if n, err := content.MaxLeaf(spec); err != nil {
		return Result{}, err
	} else {
		p.ChunkSize = n // the manifest's chunk size is the largest leaf
	}
	f, err := os.Open(file)
	if err != nil {
		return Result{}, fmt.Errorf("release file: %w", err)
	}
	size := int64(-1) // unknown (not a regular file): a spinner
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	bar := progress.New(p.Progress, size, "chunking "+filepath.Base(file))
	imp, err := content.ImportChunked(ctx, content.Discard(), bar.Reader(f), spec)
	bar.Finish()
	f.Close()
	if err != nil {
		return Result{}, err
	}
	now := p.Now.UTC()
	if p.Seq == 0 {
		p.Seq = uint64(now.UnixMilli())
	}
	if p.ValidFor == 0 {
		p.ValidFor = 365 * 24 * time.Hour
	}
	rel := trust.Release{Product: p.Product, Version: p.Version, RootCID: imp.Root.String(), Size: imp.Size,
		SHA256: imp.SHA256, ChunkSize: p.ChunkSize, Chunker: p.Chunker, Published: now, Seq: p.Seq, Hardware: p.Hardware,
		AppliesTo: p.AppliesTo, Expires: now.Add(p.ValidFor)}
	var deltaFile string
	if p.DeltaFrom != "" {
		if rel.Delta, deltaFile, err = makeDelta(ctx, p, file); err != nil {
			return Result{}, err
		}
	}
	relEnv, err := trust.SignRelease(rel, key)
	if err != nil {
		return Result{}, err
	}
	if p.AdvisoryID == "" {
		p.AdvisoryID = "TSA-" + p.Product + "-" + p.Version
	}
	if p.Title == "" {
		p.Title = "Security update for " + p.Product
	}
	if p.CVSS == "" {
		return Result{}, fmt.Errorf("a CVSS vector is required: the advisory is a scored CSAF 2.0 document")
	}
	doc, err := csaf.New(csaf.Params{ID: p.AdvisoryID, Title: p.Title, Product: p.Product, FixedVersion: p.Version,
		CVSS: p.CVSS, CVEs: p.CVEs, Time: now, Deadline: p.Deadline, PublisherName: p.Publisher})
	if err != nil {
		return Result{}, err
	}
	advEnv := trust.SignWith(trust.TypeCSAF, doc, advKey)

	c := NewClient(p.SeedDir)
	if !c.Alive(ctx) {
		if !p.StartSeed {
			return Result{}, fmt.Errorf("%w on %s (start one with `tocsin seed --data %s`, or pass --start-seed)", ErrNoSeed, p.SeedDir, p.SeedDir)
		}
		if err := startBackgroundSeed(ctx, p); err != nil {
			return Result{}, err
		}
	}
	return c.Publish(ctx, PublishRequest{File: file, ChunkSize: p.ChunkSize, Release: relEnv.Marshal(), Advisory: advEnv.Marshal(), DeltaFile: deltaFile})
}

// Recall signs a withdrawal of product@version with the release key and
// hands it to the seed, which gossips it.
func Recall(ctx context.Context, seedDir, keyPath, product, version, reason string, now time.Time) ([]string, error) {
	key, err := trust.LoadPrivateKey(keyPath)
	if err != nil {
		return nil, err
	}
	now = now.UTC()
	env, err := trust.SignRecall(trust.Recall{Product: product, Version: version, Reason: reason,
		Seq: uint64(now.UnixMilli()), Published: now, Expires: now.AddDate(10, 0, 0)}, key)
	if err != nil {
		return nil, err
	}
	return NewClient(seedDir).Announce(ctx, env.Marshal())
}

// startBackgroundSeed runs `tocsin seed` detached, trusting the publishing
// key, and waits for its control socket.
func startBackgroundSeed(ctx context.Context, p Publication) error {
	if err := os.MkdirAll(p.SeedDir, 0o700); err != nil {
		return fmt.Errorf("seed dir: %w", err)
	}
	if p.RootPath == "" {
		return fmt.Errorf("starting a seed needs the trust root (--root)")
	}
	root, err := filepath.Abs(p.RootPath)
	if err != nil {
		return fmt.Errorf("start seed: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start seed: %w", err)
	}
	args := []string{"seed", "--data", p.SeedDir, "--trust-root", root}
	for _, l := range p.Listen {
		args = append(args, "--listen", l)
	}
	logf, err := os.OpenFile(filepath.Join(p.SeedDir, "seed.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start seed: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start seed: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	c := NewClient(p.SeedDir)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c.Alive(ctx) {
			fmt.Fprintf(os.Stderr, "started seed (pid %d), log %s\n", cmd.Process.Pid, filepath.Join(p.SeedDir, "seed.log"))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("started seed (pid %d) but it did not answer within 60s; see %s", cmd.Process.Pid, filepath.Join(p.SeedDir, "seed.log"))
}

// makeDelta writes the patch from p.DeltaFrom to the new file into the
// seed's data dir and describes it for the manifest.
func makeDelta(ctx context.Context, p Publication, newFile string) (*trust.Delta, string, error) {
	if err := trust.CheckVersion(p.DeltaFromVersion); err != nil {
		return nil, "", fmt.Errorf("--delta-from-version: %w", err)
	}
	oldData, err := os.ReadFile(p.DeltaFrom)
	if err != nil {
		return nil, "", fmt.Errorf("delta: %w", err)
	}
	newData, err := os.ReadFile(newFile)
	if err != nil {
		return nil, "", fmt.Errorf("delta: %w", err)
	}
	patch, err := content.MakeDelta(oldData, newData)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(p.SeedDir, "deltas")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("delta: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, p.Product+"-"+p.DeltaFromVersion+"-to-"+p.Version+".tdzp"))
	if err != nil {
		return nil, "", err
	}
	if err := fsutil.WriteAtomic(path, patch, 0o600); err != nil {
		return nil, "", err
	}
	imp, err := content.Import(ctx, content.Discard(), bytes.NewReader(patch), p.ChunkSize)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(oldData)
	return &trust.Delta{From: p.DeltaFromVersion, FromSHA256: hex.EncodeToString(sum[:]), RootCID: imp.Root.String(),
		Size: imp.Size, SHA256: imp.SHA256}, path, nil
}
