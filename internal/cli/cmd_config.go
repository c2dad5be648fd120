package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/node"
)

func init() { register(newConfigCmd) }

func newConfigCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Write a commented example configuration, or check one",
	}
	var out string
	initCmd := &cobra.Command{
		Use:   "init [-o FILE]",
		Short: "Write a configuration with every option, its default and what it does",
		Example: `  tocsin config init -o /etc/tocsin/node.yaml
  tocsin config init | less`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" || out == "-" {
				_, err := fmt.Fprint(cmd.OutOrStdout(), node.ExampleConfig)
				return err
			}
			if err := fsutil.WriteNew(out, []byte(node.ExampleConfig), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s; edit trust_root, products and installer, then: tocsin config check %s\n", out, out)
			return nil
		},
	}
	initCmd.Flags().StringVarP(&out, "out", "o", "", "output file (never overwritten); default standard output")
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration: unknown or misspelt options and bad values are errors with their line",
		Long: `Check a configuration file the way 'tocsin node' reads it, environment
overrides (TOCSIN_<OPTION>) included. Unknown or misspelt options and bad
values are errors naming their line; files the configuration names that do
not exist yet (trust root, policy, roster, keys) are listed as warnings.`,
		Example: `  tocsin config check /etc/tocsin/node.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := node.LoadConfig(args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, m := range cfg.MissingFiles() {
				fmt.Fprintf(w, "warning: %s does not exist (yet)\n", m)
			}
			fmt.Fprintf(w, "%s: ok (role %s, data dir %s, %d products, admission %s)\n", args[0], cfg.Role, cfg.DataDir, len(cfg.Products), cfg.Admission)
			return nil
		},
	}
	c.AddCommand(initCmd, check)
	return c
}
