package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/progress"
	"github.com/tocsin-iiot/tocsin/sim/model"
	"github.com/tocsin-iiot/tocsin/sim/report"
	"github.com/tocsin-iiot/tocsin/sim/scenario"
	"github.com/tocsin-iiot/tocsin/sim/scenarios"
	"github.com/tocsin-iiot/tocsin/sim/stack"
)

func init() { register(newSimCmd) }

func newSimCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "sim",
		Short: "Simulate a rollout: how fast an advisory and a patch reach a fleet",
		Long: `Simulate a rollout before it happens: how fast the advisory reaches every
device, when the last device has the patch (against the physical minimum),
how much the seed serves, and what churn, outages and hostile nodes change.

Two engines:
  stack  Tocsin's real node code (GossipSub, bitswap, validation, policy,
         fetch) on go-libp2p's simulated network, in virtual time: thousands
         of devices. No churn, outages or loss.
  model  a deterministic flow-level event simulation of the same protocols:
         up to millions of devices; the same scenario and seed give the same
         JSON (with --reproducible, which leaves out the wall time).

  run [SCENARIO]   run a scenario file or a built-in one (default plant-1000)
  list             list the built-in scenarios`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(newSimRunCmd(), newSimListCmd())
	return c
}

func newSimListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the built-in scenarios",
		Example: "  tocsin sim list\n  tocsin sim run sybil-eclipse --json sybil.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, n := range scenarios.Names() {
				s, err := scenarios.Get(n)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-16s %-6s %s\n", n, s.Engine, s.Description)
			}
			return nil
		},
	}
}

type simFlags struct {
	engine, patchSize, jsonPath, reportDir string
	nodes                                  int
	seed                                   uint64
	reproducible                           bool
	with                                   []string
}

func newSimRunCmd() *cobra.Command {
	var f simFlags
	c := &cobra.Command{
		Use:   "run [SCENARIO.yaml | NAME]",
		Short: "Run a simulation and print its figures",
		Long: `Run a scenario — a YAML file (see sim/scenario for the format) or the name of
a built-in one (tocsin sim list); without one, the built-in plant-1000 fleet.
Flags override the scenario. A progress bar runs on a terminal.

The summary printed gives advisory delivery, patch completion against the
Kumar–Ross bound T_KR and the chunked bound T_chunk, the seed's egress, the
share of duplicate bytes, and the time one server alone would need.

--json writes the full result (figures, CDFs, upload over time, bytes by
source, the scenario echoed). --report writes an HTML page with plots;
--with adds earlier results (JSON files) to it, e.g. to compare the model
with the stack engine on the same scenario.`,
		Example: `  tocsin sim run
  tocsin sim run flat-1000 --engine stack --json stack.json
  tocsin sim run flat-1000 --engine model --json model.json --with stack.json --report report/
  tocsin sim run million --reproducible --json a.json
  tocsin sim run advisory-5000 --engine stack --patch-size 0`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSimScenario(args)
			if err != nil {
				return err
			}
			if err := f.apply(cmd, &s); err != nil {
				return err
			}
			var others []*scenario.Result
			for _, p := range f.with {
				r, err := readSimResult(p)
				if err != nil {
					return err
				}
				others = append(others, r)
			}
			g := scenario.Build(&s)
			bar := progress.NewWith(cmd.ErrOrStderr(), int64(s.Horizon.Seconds()), "simulated s", progress.Options{Unit: "s"})
			tick := func(done, _ float64) { bar.Set(int64(done)) }
			if s.Engine == "stack" {
				// Never returns: the bubble's process exits when done.
				stack.InBubble(func(stdout *os.File) error {
					wall := stack.RealNow()
					res, err := stack.Run(context.Background(), &s, g, tick)
					if err != nil {
						return err
					}
					res.WallSeconds = scenario.Round(stack.RealNow().Sub(wall).Seconds())
					bar.Set(int64(s.Horizon.Seconds()))
					return f.output(stdout, res, others)
				})
			}
			wall := stack.RealNow()
			res, err := model.Run(cmd.Context(), &s, g, tick)
			if err != nil {
				return err
			}
			res.WallSeconds = scenario.Round(stack.RealNow().Sub(wall).Seconds())
			bar.Set(int64(s.Horizon.Seconds()))
			return f.output(cmd.OutOrStdout(), res, others)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.engine, "engine", "", "stack (real node code) or model (flow-level events); default: the scenario's")
	fl.IntVar(&f.nodes, "nodes", 0, "number of devices (overrides fleet.devices)")
	fl.StringVar(&f.patchSize, "patch-size", "", "patch size, e.g. 4MiB; 0 = advisory only")
	fl.Uint64Var(&f.seed, "seed", 0, "random seed (overrides the scenario's)")
	fl.StringVar(&f.jsonPath, "json", "", "write the result as JSON to this file (- for standard output)")
	fl.StringVar(&f.reportDir, "report", "", "write an HTML report with plots into this directory")
	fl.BoolVar(&f.reproducible, "reproducible", false, "write wall_seconds as 0, so that two runs of the model engine give byte-identical JSON")
	fl.StringArrayVar(&f.with, "with", nil, "add an earlier result (JSON file) to the report, e.g. the other engine's; repeatable")
	return c
}

func loadSimScenario(args []string) (scenario.Scenario, error) {
	name := "plant-1000"
	if len(args) == 1 {
		name = args[0]
	}
	if _, err := os.Stat(name); err == nil {
		return scenario.Load(name)
	}
	if strings.ContainsAny(name, `/\`) {
		return scenario.Load(name) // a path that does not exist: say so
	}
	return scenarios.Get(name)
}

// apply puts the flags over the scenario and checks the result.
func (f *simFlags) apply(cmd *cobra.Command, s *scenario.Scenario) error {
	if f.engine != "" {
		s.Engine = f.engine
	}
	if f.nodes != 0 {
		s.Fleet.Devices = f.nodes
		if s.Adversaries.Sybils.Victim >= f.nodes {
			s.Adversaries.Sybils.Victim = 0
		}
	}
	if cmd.Flags().Changed("patch-size") {
		b, err := scenario.ParseBytes(f.patchSize)
		if err != nil {
			return fmt.Errorf("--patch-size: %w", err)
		}
		s.Patch.Size = &b
	}
	if f.seed != 0 {
		s.Seed = f.seed
	}
	return s.Validate()
}

func (f *simFlags) output(stdout io.Writer, res *scenario.Result, others []*scenario.Result) error {
	out := *res // what --json and --report get
	if f.reproducible {
		out.WallSeconds = 0
	}
	if f.jsonPath == "-" {
		if err := out.WriteJSON(stdout); err != nil {
			return err
		}
	} else {
		printSimSummary(stdout, res)
		if f.jsonPath != "" {
			if err := fsutil.WriteAtomicFunc(f.jsonPath, 0o644, func(w io.Writer) error { return out.WriteJSON(w) }); err != nil {
				return fmt.Errorf("--json: %w", err)
			}
		}
	}
	if f.reportDir != "" {
		if err := report.Write(f.reportDir, append([]*scenario.Result{&out}, others...)...); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if f.jsonPath != "-" {
			fmt.Fprintf(stdout, "report: %s/index.html\n", strings.TrimRight(f.reportDir, "/"))
		}
	}
	return nil
}

func printSimSummary(w io.Writer, r *scenario.Result) {
	fmt.Fprintf(w, "%s: %s engine, %d devices (%d honest), %.1f s simulated in %.1f s wall\n",
		r.Scenario.Name, r.Engine, r.Nodes, r.HonestDevices, r.VirtualSeconds, r.WallSeconds)
	a := r.Advisory
	fmt.Fprintf(w, "advisory: %.1f%% delivered, p50 %.3f s, p99 %.3f s, max %.3f s\n", 100*a.DeliveredFraction, a.P50S, a.P99S, a.MaxS)
	if p := r.Patch; p != nil {
		fmt.Fprintf(w, "patch: %.1f%% complete, p50 %.3f s, p99 %.3f s, max %.3f s = %.2f x T_KR %.3f s (T_chunk %.3f s)\n",
			100*p.CompletedFraction, p.P50S, p.P99S, p.MaxS, p.RatioToBound, p.BoundS, p.ChunkBoundS)
		fmt.Fprintf(w, "seed sent %.2f x the file; %.1f%% of bytes received were duplicates; one server alone: %.1f s\n",
			p.SeedEgressRatio, 100*p.DuplicateRatio, r.ClientServerS)
		if ws := p.Waits; ws != nil {
			fmt.Fprintf(w, "devices' fetching time: window full %.1f%%, starved %.1f%%, blocked %.1f%%\n",
				100*ws.Full, 100*ws.Starved, 100*ws.Blocked)
		}
	}
	if at := r.Attacks; at != (scenario.Attacks{}) {
		fmt.Fprintf(w, "attacks: %d forged sent, %d accepted; %d bad blocks served, %d stored\n",
			at.ForgedSent, at.ForgedAccepted, at.BadBlocksServed, at.BadBlocksStored)
	}
}

func readSimResult(path string) (*scenario.Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--with: %w", err)
	}
	var r scenario.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("--with %s: not a simulation result: %w", path, err)
	}
	return &r, nil
}
