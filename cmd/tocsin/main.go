// Command tocsin is the single Tocsin binary: device daemon, supplier seed and
// publishing CLI, and simulator. See the README for the command reference.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tocsin-iiot/tocsin/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
