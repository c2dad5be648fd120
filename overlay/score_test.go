package overlay

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// TestLazyMeshPeerFallsBelowZero: with the low-rate score parameters, a
// peer in an honest node's mesh that never forwards (it ignores every
// message) falls below zero, while an honest peer in the same position stays
// at or above zero. The unit is 1 s here (a minute in production).
func TestLazyMeshPeerFallsBelowZero(t *testing.T) {
	mn := mocknet.New()
	defer mn.Close()
	hosts := map[string]host.Host{}
	for _, name := range []string{"pub", "obs", "lazy", "honest"} {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		hosts[name] = h
	}
	for _, pair := range [][2]string{{"pub", "obs"}, {"pub", "lazy"}, {"pub", "honest"}, {"lazy", "obs"}, {"honest", "obs"}} {
		if _, err := mn.LinkPeers(hosts[pair[0]].ID(), hosts[pair[1]].ID()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	accept := func(context.Context, peer.ID, []byte) (pubsub.ValidationResult, any) {
		return pubsub.ValidationAccept, nil
	}
	ignore := func(context.Context, peer.ID, []byte) (pubsub.ValidationResult, any) {
		return pubsub.ValidationIgnore, nil
	}
	var mu sync.Mutex
	scores := map[peer.ID]float64{}
	inspect := pubsub.WithPeerScoreInspect(func(m map[peer.ID]float64) {
		mu.Lock()
		defer mu.Unlock()
		for p, s := range m {
			scores[p] = s
		}
	}, 200*time.Millisecond)
	var pub *Gossip
	for _, name := range []string{"pub", "obs", "lazy", "honest"} {
		v, opts := Validator(accept), []pubsub.Option{}
		if name == "lazy" {
			v = ignore
		}
		if name == "obs" {
			opts = append(opts, inspect)
		}
		g, err := JoinGossip(ctx, hosts[name], v, time.Second, nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if name == "pub" {
			pub = g
		}
	}
	for _, pair := range [][2]string{{"pub", "obs"}, {"pub", "lazy"}, {"pub", "honest"}, {"lazy", "obs"}, {"honest", "obs"}} {
		if _, err := mn.ConnectPeers(hosts[pair[0]].ID(), hosts[pair[1]].ID()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(12 * time.Second)
	var lazy, honest float64
	for i := 0; time.Now().Before(deadline); i++ {
		if err := pub.Topic.Publish(ctx, []byte(fmt.Sprintf("message %d", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
		mu.Lock()
		lazy, honest = scores[hosts["lazy"].ID()], scores[hosts["honest"].ID()]
		mu.Unlock()
		if i > 20 && lazy < 0 && honest >= 0 {
			break
		}
	}
	t.Logf("observer's scores: lazy %.2f, honest %.2f", lazy, honest)
	if lazy >= 0 {
		t.Fatalf("a mesh peer that never forwards scores %.2f, want below zero", lazy)
	}
	if honest < 0 {
		t.Fatalf("an honest mesh peer scores %.2f, want at least zero", honest)
	}
}
