package seed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/cvss"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Publication is what a supplier publishes: one release file and the
// advisory that points at it.
type Publication struct {
	SeedDir   string // the seed's data dir (its control socket lives there)
	KeyPath   string // the supplier's signing key
	Product   string
	Version   string
	File      string
	ChunkSize int // default content.DefaultChunkSize

	AdvisoryID string // default TSA-<product>-<version>
	Title      string // default "Security update for <product>"
	CVSS       string // optional CVSS 3.x/4.0 vector
	CVEs       []string
	Deadline   time.Time

	// StartSeed, if no seed runs on SeedDir, starts one in the background
	// (the same binary, `tocsin seed`) with these listen addresses.
	StartSeed bool
	Listen    []string
	Now       time.Time
}

// Publish signs a release and its advisory and hands them to the seed on
// p.SeedDir, starting the seed first if p.StartSeed and none runs.
func Publish(ctx context.Context, p Publication) (Result, error) {
	key, err := trust.LoadPrivateKey(p.KeyPath)
	if err != nil {
		return Result{}, err
	}
	file, err := filepath.Abs(p.File)
	if err != nil {
		return Result{}, fmt.Errorf("release file: %w", err)
	}
	f, err := os.Open(file)
	if err != nil {
		return Result{}, fmt.Errorf("release file: %w", err)
	}
	if p.ChunkSize == 0 {
		p.ChunkSize = content.DefaultChunkSize
	}
	imp, err := content.Import(ctx, content.Discard(), f, p.ChunkSize)
	f.Close()
	if err != nil {
		return Result{}, err
	}
	now := p.Now.UTC()
	rel := trust.Release{Product: p.Product, Version: p.Version, RootCID: imp.Root.String(), Size: imp.Size,
		SHA256: imp.SHA256, ChunkSize: p.ChunkSize, Published: now}
	relEnv, err := trust.SignRelease(rel, key)
	if err != nil {
		return Result{}, err
	}
	adv := trust.Advisory{ID: p.AdvisoryID, Title: p.Title, Product: p.Product, FixedVersion: p.Version,
		ReleaseID: rel.ID(), CVEs: p.CVEs, Published: now, Deadline: p.Deadline}
	if adv.ID == "" {
		adv.ID = "TSA-" + p.Product + "-" + p.Version
	}
	if adv.Title == "" {
		adv.Title = "Security update for " + p.Product
	}
	if p.CVSS != "" {
		sc, err := cvss.Score(p.CVSS)
		if err != nil {
			return Result{}, err
		}
		adv.CVSS, adv.BaseScore, adv.Severity = sc.Vector, sc.BaseScore, sc.Severity
	}
	advEnv, err := trust.SignAdvisory(adv, key)
	if err != nil {
		return Result{}, err
	}

	c := NewClient(p.SeedDir)
	if !c.Alive(ctx) {
		if !p.StartSeed {
			return Result{}, fmt.Errorf("%w on %s (start one with `tocsin seed --data %s`, or pass --start-seed)", ErrNoSeed, p.SeedDir, p.SeedDir)
		}
		if err := startBackgroundSeed(ctx, p, key.Public()); err != nil {
			return Result{}, err
		}
	}
	return c.Publish(ctx, PublishRequest{File: file, ChunkSize: p.ChunkSize, Release: relEnv.Marshal(), Advisory: advEnv.Marshal()})
}

// startBackgroundSeed runs `tocsin seed` detached, trusting the publishing
// key, and waits for its control socket.
func startBackgroundSeed(ctx context.Context, p Publication, pub trust.PublicKey) error {
	if err := os.MkdirAll(p.SeedDir, 0o700); err != nil {
		return fmt.Errorf("seed dir: %w", err)
	}
	pubPath := filepath.Join(p.SeedDir, "supplier-"+pub.KeyID()[:16]+".pub")
	if _, err := os.Stat(pubPath); errors.Is(err, os.ErrNotExist) {
		if err := writePublic(pubPath, pub); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start seed: %w", err)
	}
	args := []string{"seed", "--data", p.SeedDir, "--trust", pubPath}
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

func writePublic(path string, pub trust.PublicKey) error {
	b, err := trust.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
