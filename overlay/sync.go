package overlay

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolSync is the catch-up protocol. The dialling side sends one item,
// its catalog summary (which sequence number it holds in every slot, per
// publisher); the dialled side answers with the signed envelopes the
// summary shows it lacks; the dialling side hands each to its sink, which
// verifies it exactly like a gossip message.
const ProtocolSync protocol.ID = "/tocsin/sync/2.0.0"

// Limits of one sync exchange.
const (
	MaxSyncItems    = 4096
	MaxSyncItemSize = 1 << 20
	syncTimeout     = 30 * time.Second
)

// Catalog lists the envelopes a node offers to peers that catch up. The
// summary is opaque here: the node encodes and judges it.
type Catalog interface {
	// Summary describes what this node holds, sent when it pulls.
	Summary() []byte
	// Envelopes returns the wire bytes of every document a peer whose
	// summary is peerSummary lacks, in the order to apply them.
	Envelopes(peerSummary []byte) [][]byte
}

// Sink receives one envelope from a peer. It must verify before it uses it.
type Sink func(from peer.ID, data []byte)

// Sync runs the catch-up protocol: it serves the catalog to peers, and pulls
// from every peer it connects to.
type Sync struct {
	h    host.Host
	cat  Catalog
	sink Sink
	log  *slog.Logger
	ctx  context.Context
}

// StartSync registers the protocol handler and pulls from each new peer.
func StartSync(ctx context.Context, h host.Host, cat Catalog, sink Sink, log *slog.Logger) *Sync {
	s := &Sync{h: h, cat: cat, sink: sink, log: log, ctx: ctx}
	h.SetStreamHandler(ProtocolSync, s.serve)
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			go s.Pull(c.RemotePeer())
		},
	})
	return s
}

func (s *Sync) serve(st network.Stream) {
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(syncTimeout))
	var summary []byte
	if _, err := readItems(bufio.NewReader(io.LimitReader(st, MaxSyncItemSize+16)), func(b []byte) { summary = b }); err != nil {
		_ = st.Reset()
		return
	}
	w := bufio.NewWriter(st)
	items := s.cat.Envelopes(summary)
	if len(items) > MaxSyncItems {
		items = items[len(items)-MaxSyncItems:]
	}
	for _, it := range items {
		if err := writeItem(w, it); err != nil {
			return
		}
	}
	_ = w.Flush()
}

func writeItem(w io.Writer, it []byte) error {
	var lenBuf [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lenBuf[:], uint64(len(it)))
	if _, err := w.Write(lenBuf[:n]); err != nil {
		return err
	}
	_, err := w.Write(it)
	return err
}

// PullAll pulls from every connected peer that speaks sync, one after the
// other. Gossip does not repeat messages, so a node that joined a peer's
// mesh a moment after a document went by would never get it without this.
func (s *Sync) PullAll() {
	for _, p := range s.h.Network().Peers() {
		s.Pull(p)
	}
}

// Pull fetches p's catalog and hands every item to the sink.
func (s *Sync) Pull(p peer.ID) {
	if s.ctx.Err() != nil || !s.supports(p) {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, syncTimeout)
	defer cancel()
	st, err := s.h.NewStream(ctx, p, ProtocolSync)
	if err != nil {
		s.log.Debug("sync: open stream", "peer", p, "err", err)
		return
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(syncTimeout))
	if err := writeItem(st, s.cat.Summary()); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.CloseWrite()
	n, err := readItems(bufio.NewReader(st), func(b []byte) { s.sink(p, b) })
	if err != nil {
		s.log.Debug("sync: read", "peer", p, "items", n, "err", err)
		_ = st.Reset()
		return
	}
	s.log.Debug("sync: pulled", "peer", p, "items", n)
}

// supports avoids opening streams to peers that do not speak sync (e.g. a
// stock IPFS node) once identify has told us their protocols.
func (s *Sync) supports(p peer.ID) bool {
	protos, err := s.h.Peerstore().GetProtocols(p)
	if err != nil || len(protos) == 0 {
		return true // not identified yet: try
	}
	for _, pr := range protos {
		if pr == ProtocolSync {
			return true
		}
	}
	return false
}

// ErrSyncTooLarge is returned when a peer sends more than the limits allow.
var ErrSyncTooLarge = errors.New("sync: peer exceeded limits")

func readItems(r *bufio.Reader, each func([]byte)) (int, error) {
	for i := 0; ; i++ {
		l, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			return i, nil
		}
		if err != nil {
			return i, fmt.Errorf("sync: read length: %w", err)
		}
		if i >= MaxSyncItems || l > MaxSyncItemSize {
			return i, ErrSyncTooLarge
		}
		buf := make([]byte, l)
		if _, err := io.ReadFull(r, buf); err != nil {
			return i, fmt.Errorf("sync: read item: %w", err)
		}
		each(buf)
	}
}

// FullAddrs returns h's listen addresses with /p2p/<id> appended.
func FullAddrs(h host.Host) []string {
	pid, err := ma.NewComponent("p2p", h.ID().String())
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(h.Addrs()))
	for _, a := range h.Addrs() {
		out = append(out, a.Encapsulate(pid).String())
	}
	return out
}
