// Package fsutil writes files the two ways Tocsin needs: create-only (keys,
// identities, advisories: never overwrite what an operator has) and atomic
// replace (status files: readers see the old or the new content, never a
// mix); and SHA256File hashes a file as a stream. Standard library only.
package fsutil
