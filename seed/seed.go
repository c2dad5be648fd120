package seed

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tocsin-iiot/tocsin/node"
)

// Seed is a running seed node with its control socket.
type Seed struct {
	*node.Node
	ctl *controlServer
}

// Start runs a node in seed role and opens its control socket. cfg.Role is
// forced to seed.
func Start(ctx context.Context, cfg *node.Config, log *slog.Logger) (*Seed, error) {
	cfg.Role = node.RoleSeed
	n, err := node.New(ctx, cfg, node.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	ctl, err := startControl(n)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("seed: %w", err)
	}
	return &Seed{Node: n, ctl: ctl}, nil
}

// Close stops the control socket and the node.
func (s *Seed) Close() error {
	s.ctl.close()
	return s.Node.Close()
}
