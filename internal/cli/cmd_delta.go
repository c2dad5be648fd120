package cli

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
)

func init() { register(newDeltaCmd) }

func newDeltaCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "delta",
		Short: "Make and apply binary deltas between two versions of a file",
		Long: `Make a delta that turns one version of a file into the next, and apply it.
A delta is a zstd frame compressed with the old file as its dictionary (as
"zstd --patch-from" writes), behind a small header holding the SHA-256 of the
old and new files, so a delta applied to the wrong old file, a truncated or
corrupted delta, or one whose output is not the recorded new file is refused.

  make   OLD NEW -o PATCH   write the delta from OLD to NEW
  apply  OLD PATCH -o NEW   rebuild NEW from OLD and PATCH

Output files are written to a temporary file in the same directory and
renamed into place, so they are never seen half-written.`,
		Example: `  tocsin delta make libcrypto.so.3-3.0.20 libcrypto.so.3-3.0.22 -o libcrypto-3.0.22.delta
  tocsin delta apply libcrypto.so.3-3.0.20 libcrypto-3.0.22.delta -o libcrypto.so.3-3.0.22`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(newDeltaMakeCmd(), newDeltaApplyCmd())
	return c
}

func newDeltaMakeCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "make OLD NEW -o PATCH",
		Short: "Write the delta that turns OLD into NEW",
		Long: `Write to PATCH the delta that rebuilds NEW from OLD, and print one line with
the sizes and the patch's size as a share of NEW. PATCH is replaced
atomically if it exists. OLD and NEW are read into memory and may be at most
1 GiB each.`,
		Example: `  tocsin delta make libcrypto.so.3-3.0.20 libcrypto.so.3-3.0.22 -o libcrypto-3.0.22.delta`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			oldData, err := readDeltaInput(args[0], content.DefaultMaxDeltaSize)
			if err != nil {
				return err
			}
			newData, err := readDeltaInput(args[1], content.DefaultMaxDeltaSize)
			if err != nil {
				return err
			}
			patch, err := content.MakeDelta(oldData, newData)
			if err != nil {
				return fmt.Errorf("delta from %s to %s: %w", args[0], args[1], err)
			}
			if err := fsutil.WriteAtomic(out, patch, 0o644); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %d bytes, %s of new (old %d bytes, new %d bytes)\n",
				out, len(patch), deltaPercent(len(patch), len(newData)), len(oldData), len(newData))
			return err
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "patch file to write (required)")
	_ = c.MarkFlagRequired("out")
	return c
}

func newDeltaApplyCmd() *cobra.Command {
	var (
		out     string
		maxSize int64
	)
	c := &cobra.Command{
		Use:   "apply OLD PATCH -o NEW",
		Short: "Rebuild NEW from OLD and a delta",
		Long: `Rebuild the new file from OLD and PATCH, check that it has the size and
SHA-256 the delta records, write it to NEW and print one line with its size,
SHA-256 and the patch's share of it. NEW gets OLD's permission bits and is
replaced atomically, so -o may name OLD itself to upgrade a file in place.

Nothing is written when OLD is not the file the delta was made from, when the
delta is truncated or corrupt, or when it declares a new file larger than
--max-size bytes.`,
		Example: `  tocsin delta apply libcrypto.so.3-3.0.20 libcrypto-3.0.22.delta -o libcrypto.so.3-3.0.22`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxSize <= 0 {
				return fmt.Errorf("--max-size %d: must be positive", maxSize)
			}
			oldInfo, err := os.Stat(args[0])
			if err != nil {
				return err
			}
			oldData, err := readDeltaInput(args[0], content.DefaultMaxDeltaSize)
			if err != nil {
				return err
			}
			// A patch is never much larger than the file it builds.
			patchMax := int64(math.MaxInt64)
			if maxSize < math.MaxInt64/2 {
				patchMax = maxSize + maxSize/64 + content.DeltaHeaderSize + (1 << 20)
			}
			if fi, err := os.Stat(args[1]); err == nil && fi.Size() > patchMax {
				return fmt.Errorf("%s: %d bytes, too large for a delta building at most %d bytes (--max-size): %w",
					args[1], fi.Size(), maxSize, content.ErrDeltaTooLarge)
			}
			patch, err := readDeltaInput(args[1], patchMax)
			if err != nil {
				return err
			}
			newData, err := content.ApplyDeltaLimit(oldData, patch, maxSize)
			if err != nil {
				return fmt.Errorf("apply %s to %s: %w", args[1], args[0], err)
			}
			if err := fsutil.WriteAtomic(out, newData, oldInfo.Mode().Perm()); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %d bytes, sha256 %x (patch %d bytes, %s of new)\n",
				out, len(newData), sha256.Sum256(newData), len(patch), deltaPercent(len(patch), len(newData)))
			return err
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "file to write the rebuilt new version to (required)")
	c.Flags().Int64Var(&maxSize, "max-size", content.DefaultMaxDeltaSize, "refuse a delta declaring a new file larger than this many bytes")
	_ = c.MarkFlagRequired("out")
	return c
}

// readDeltaInput reads a whole regular file of at most limit bytes.
func readDeltaInput(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, above the %d-byte limit", path, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, min(limit, math.MaxInt64-1)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: grew above the %d-byte limit while being read", path, limit)
	}
	return data, nil
}

// deltaPercent formats part as a percentage of whole.
func deltaPercent(part, whole int) string {
	if whole == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(part)/float64(whole))
}
