package trust

import (
	"encoding/pem"
	"testing"
	"time"
)

// Reliability check 10 (issue 9): fuzz targets for the parsers of network
// and file input that had none. internal/reliability runs each with -fuzz
// for a fixed budget; without -fuzz only the seeds run.

// FuzzReliabilityOpenOwner feeds arbitrary envelopes to OpenOwner: operator
// decisions and fleet rosters arrive by gossip and sync from any peer.
func FuzzReliabilityOpenOwner(f *testing.F) {
	op := keys(f, 1, 9)[0]
	ops := pubs(op)
	d, _ := SignDecision(Decision{Action: DecisionAuthorise, Release: "plc-fw@2.0.0", Group: "g", SIA: "SIA-1", Seq: 1, Issued: t0}, op)
	f.Add(d.Marshal())
	r, _ := SignRoster(Roster{Fleet: "plant", Seq: 1, Issued: t0, Members: []Member{{Peer: "12D3KooWA", Zone: "z", Role: MemberDevice}}}, op)
	f.Add(r.Marshal())
	f.Add([]byte(`{"payloadType":"` + TypeRoster + `","payload":"e30=","signatures":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := OpenOwner(data, ops)
		if err != nil {
			return
		}
		if doc.Key() == "" || (doc.Decision == nil) == (doc.Roster == nil) || len(doc.Signers) == 0 {
			t.Fatalf("accepted an owner document without a key, body or signer: %+v", doc)
		}
		if doc.Decision != nil && doc.Decision.Validate() != nil {
			t.Fatal("accepted an invalid decision")
		}
		if doc.Roster != nil && doc.Roster.Validate() != nil {
			t.Fatal("accepted an invalid roster")
		}
	})
}

// FuzzReliabilityNewState feeds arbitrary trust_root files to NewState.
func FuzzReliabilityNewState(f *testing.F) {
	w := newWorld(f)
	f.Add(w.rootEnv)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := NewState(data)
		if err != nil {
			return
		}
		if st.Root.Version < 1 || st.Freshness(time.Now()).State == "" {
			t.Fatalf("accepted a root with version %d", st.Root.Version)
		}
	})
}

// FuzzReliabilityPublicKey feeds arbitrary public key files (the owner
// policy's operator keys) to ParsePublicKey.
func FuzzReliabilityPublicKey(f *testing.F) {
	k := keys(f, 1, 10)[0]
	b, err := MarshalPublicKey(k.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0x2a}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		pk, err := ParsePublicKey(data)
		if err == nil && len(pk.Key) != 32 {
			t.Fatalf("accepted a key of %d bytes", len(pk.Key))
		}
	})
}
