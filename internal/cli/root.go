package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// ctor builds one top-level command. Each cmd_*.go file registers its own
// constructor from init, so commands can be added without editing this file.
type ctor func() *cobra.Command

var ctors []ctor

func register(c ctor) { ctors = append(ctors, c) }

// NewRoot builds the whole command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tocsin",
		Short: "Peer-to-peer security advisories and software updates for industrial IoT fleets",
		Long: `Tocsin carries signed security advisories and software updates to large
industrial IoT fleets, peer to peer. A supplier publishes a signed release and
advisory to its seed node; devices gossip the advisory, fetch the release from
each other over bitswap, verify it and install it under the asset owner's policy.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if logFormat != "text" && logFormat != "json" {
				return fmt.Errorf("--log-format must be text or json, not %q", logFormat)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "daemon log format: text or json")
	cmds := make([]*cobra.Command, 0, len(ctors))
	for _, c := range ctors {
		cmds = append(cmds, c())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		c.Example = `  tocsin completion bash > /usr/share/bash-completion/completions/tocsin
  tocsin completion zsh > /usr/share/zsh/vendor-completions/_tocsin
  tocsin completion fish > ~/.config/fish/completions/tocsin.fish`
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	return root
}

// Main runs the CLI and returns the process exit code. Every error is printed
// as exactly one line on stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return 130
		}
		fmt.Fprintf(stderr, "tocsin: %s\n", oneLine(err.Error()))
		return exitCode(err)
	}
	return 0
}

// exitError carries a specific exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) && ee.code != 0 {
		return ee.code
	}
	return 1
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "; ")
}
