package node

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/crashpoint"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// runInstall runs the installer, then the health check; if either fails it
// runs the rollback command (back to previous) and records a failed
// installation, which counts toward halting the rollout wave.
//
// resumed means a previous run was killed while the installer ran, so the
// release may already be in effect. Installing it twice is what must not
// happen, so the health check (which confirms the release is what runs)
// goes first: if it passes, the install is recorded without running the
// installer again. Otherwise — or with no health check configured — the
// installer runs again with TOCSIN_INSTALL_RESUMED=1 in its environment;
// installers must be idempotent for that case (README, "Installer").
func (n *Node) runInstall(rel trust.Release, file, previous string, resumed bool) {
	var err error
	skip := false
	if resumed && len(n.cfg.Installer.HealthCheck) > 0 {
		if n.hook(n.ctx, "health check", n.cfg.Installer.HealthCheck, rel, file) == nil {
			n.log.Info("an install interrupted by a restart had taken effect (health check passes); not installing again", "release", rel.ID())
			skip = true
		}
	}
	if !skip {
		var env []string
		if resumed {
			env = append(env, "TOCSIN_INSTALL_RESUMED=1")
		}
		err = n.hook(n.ctx, "installer", n.cfg.Installer.Command, rel, file, env...)
		crashpoint.Hit(crashpoint.InstallerRan)
	}
	if err == nil && !skip && len(n.cfg.Installer.HealthCheck) > 0 {
		if herr := n.hook(n.ctx, "health check", n.cfg.Installer.HealthCheck, rel, file); herr != nil {
			err = herr
		}
	}
	if n.ctx.Err() != nil {
		return // shutting down: the record says installing and the installer runs again on restart
	}
	rolledBack := false
	if err != nil && len(n.cfg.Installer.Rollback) > 0 {
		if rerr := n.hook(n.ctx, "rollback", n.cfg.Installer.Rollback, rel, file, "TOCSIN_ROLLBACK_TO="+previous); rerr != nil {
			err = fmt.Errorf("%w; rollback to %s also failed: %w", err, previous, rerr)
		} else {
			rolledBack = true
			err = fmt.Errorf("%w; rolled back to %s", err, previous)
		}
	}
	if err == nil {
		n.mu.Lock()
		n.installed[rel.Product] = rel.Version
		perr := n.saveInstalled(n.ctx, rel.Product, rel.Version)
		n.mu.Unlock()
		crashpoint.Hit(crashpoint.InstalledSaved)
		if perr != nil {
			err = perr
		}
	}
	n.finish(rel, "install", err, func(st *releaseState) {
		st.Interrupted = false
		now := n.now().UTC()
		if err == nil {
			st.Phase, st.InstalledAt = policy.PhaseInstalled, now
			n.transition(st, policy.EvInstallOK, now, "device", rel.SHA256)
			n.log.Info("release installed", "release", rel.ID())
			return
		}
		n.transition(st, policy.EvInstallFailed, now, "device", err.Error())
		if rolledBack {
			n.log.Warn("installation failed and was rolled back", "release", rel.ID(), "to", previous)
		}
	})
}

// runRollback runs the rollback command for a recalled release this device
// installed, and records the previous version as running again.
func (n *Node) runRollback(rel trust.Release, previous string) {
	var err error
	if len(n.cfg.Installer.Rollback) > 0 {
		err = n.hook(n.ctx, "rollback", n.cfg.Installer.Rollback, rel, "", "TOCSIN_ROLLBACK_TO="+previous)
	}
	if n.ctx.Err() != nil {
		return
	}
	if err == nil && len(n.cfg.Installer.Rollback) > 0 && previous != "" {
		n.mu.Lock()
		n.installed[rel.Product] = previous
		err = n.saveInstalled(n.ctx, rel.Product, previous)
		n.mu.Unlock()
	}
	n.finish(rel, "rollback", err, func(st *releaseState) {
		if err != nil {
			return
		}
		st.Phase = policy.PhaseRecalled
		if len(n.cfg.Installer.Rollback) == 0 {
			st.Error = "recalled after install; no installer.rollback command configured, so " + rel.Version + " still runs"
			n.log.Error("recalled release still installed", "release", rel.ID())
		} else {
			n.log.Warn("recalled release rolled back", "release", rel.ID(), "to", previous)
			if err := n.auditEvent(n.now(), "node", audit.EventRolledBack, rel.ID(), map[string]string{audit.DetailReason: "recalled; back to " + previous}); err != nil {
				n.log.Error("audit log append failed", "err", err)
			}
		}
	})
}

// hook runs one of the installer's commands with the release in its
// environment, killed after the installer timeout.
func (n *Node) hook(ctx context.Context, what string, argv []string, rel trust.Release, file string, env ...string) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Installer.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	killGroupOnCancel(cmd)
	// If a child survives the kill and keeps the output pipe open, stop
	// waiting for it after this long.
	cmd.WaitDelay = 2 * time.Second
	dataDir := n.cfg.Resolve(n.cfg.DataDir)
	cmd.Dir = dataDir
	cmd.Env = append(append(cmd.Environ(),
		"TOCSIN_FILE="+file,
		"TOCSIN_PRODUCT="+rel.Product,
		"TOCSIN_VERSION="+rel.Version,
		"TOCSIN_SHA256="+rel.SHA256,
		"TOCSIN_RELEASE_ID="+rel.ID(),
		"TOCSIN_DATA_DIR="+dataDir,
	), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s timed out after %s", what, n.cfg.Installer.Timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 200 {
			msg = msg[len(msg)-200:]
		}
		return fmt.Errorf("%s %s: %w: %s", what, argv[0], err, msg)
	}
	return nil
}
