package node

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

func (n *Node) runInstall(rel trust.Release, file string) {
	err := n.install(n.ctx, rel, file)
	if n.ctx.Err() != nil {
		return // shutting down: the record says installing and the installer runs again on restart
	}
	if err == nil {
		n.mu.Lock()
		n.installed[rel.Product] = rel.Version
		perr := n.saveInstalled(n.ctx, rel.Product, rel.Version)
		n.mu.Unlock()
		if perr != nil {
			err = perr
		}
	}
	n.finish(rel, "install", err, func(st *releaseState) {
		if err == nil {
			st.Phase, st.InstalledAt = policy.PhaseInstalled, n.now().UTC()
			n.log.Info("release installed", "release", rel.ID())
		}
	})
}

// install runs the configured installer on the verified file.
func (n *Node) install(ctx context.Context, rel trust.Release, file string) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Installer.Timeout)
	defer cancel()
	argv := n.cfg.Installer.Command
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	dataDir := n.cfg.Resolve(n.cfg.DataDir)
	cmd.Dir = dataDir
	cmd.Env = append(cmd.Environ(),
		"TOCSIN_FILE="+file,
		"TOCSIN_PRODUCT="+rel.Product,
		"TOCSIN_VERSION="+rel.Version,
		"TOCSIN_SHA256="+rel.SHA256,
		"TOCSIN_RELEASE_ID="+rel.ID(),
		"TOCSIN_DATA_DIR="+dataDir,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("installer timed out after %s", n.cfg.Installer.Timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 200 {
			msg = msg[len(msg)-200:]
		}
		return fmt.Errorf("installer %s: %w: %s", argv[0], err, msg)
	}
	return nil
}
