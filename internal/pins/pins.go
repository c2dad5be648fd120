//go:build tools

// Package pins keeps the project's pinned dependencies in go.mod while the
// code that uses them is still being written, so `go mod tidy` does not drop
// a version that is known to build on our machines. Remove an import here
// once real code imports the module.
package pins

import (
	_ "github.com/gocsaf/csaf/v3/csaf"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/libp2p/go-libp2p-pubsub"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/theupdateframework/go-tuf/v2/metadata"
	_ "gonum.org/v1/plot"
	_ "gopkg.in/yaml.v3"
)
