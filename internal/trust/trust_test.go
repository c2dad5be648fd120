package trust

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testRelease() Release {
	return Release{Product: "plc-fw", Version: "2.0.0", RootCID: "bafy", Size: 10, ChunkSize: 4,
		SHA256: "aa00000000000000000000000000000000000000000000000000000000000000", Published: time.Unix(0, 0).UTC()}
}

func TestOpenVerifies(t *testing.T) {
	k, _ := GenerateKey(nil)
	other, _ := GenerateKey(nil)
	ring := KeyRing{}
	ring.Add(k.Public())
	env, err := SignRelease(testRelease(), k)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Open(env.Marshal(), ring)
	if err != nil || doc.Release == nil || doc.Release.ID() != "plc-fw@2.0.0" {
		t.Fatalf("valid envelope: doc %+v err %v", doc, err)
	}

	tampered := env
	tampered.Payload = bytes.Replace(env.Payload, []byte(`"size":10`), []byte(`"size":11`), 1)
	if bytes.Equal(tampered.Payload, env.Payload) {
		t.Fatal("test did not tamper")
	}
	otherEnv, _ := SignRelease(testRelease(), other)
	retyped := env
	retyped.PayloadType = TypeAdvisory
	unsigned := env
	unsigned.Signatures = nil
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"tampered payload", tampered.Marshal(), ErrBadSig},
		{"payload type swapped", retyped.Marshal(), ErrBadSig},
		{"unknown key", otherEnv.Marshal(), ErrUnknownKey},
		{"unsigned", unsigned.Marshal(), ErrUnsigned},
		{"not json", []byte("hello"), ErrMalformed},
		{"unknown field", []byte(`{"payloadType":"x","payload":"eA==","signatures":[],"extra":1}`), ErrMalformed},
		{"oversized", make([]byte, MaxEnvelopeSize+1), ErrMalformed},
	}
	for _, c := range cases {
		if _, err := Open(c.data, ring); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func TestInvalidDocumentsRefused(t *testing.T) {
	k, _ := GenerateKey(nil)
	bad := testRelease()
	bad.Product = "bad id!"
	if _, err := SignRelease(bad, k); !errors.Is(err, ErrInvalidDocument) {
		t.Fatalf("bad product: %v", err)
	}
	adv := Advisory{ID: "A-1", Product: "plc-fw", FixedVersion: "2.0.0", ReleaseID: "plc-fw@1.0.0"}
	if _, err := SignAdvisory(adv, k); !errors.Is(err, ErrInvalidDocument) {
		t.Fatalf("advisory pointing at the wrong release: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateKey(nil)
	priv, pub := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	if err := WriteKeyPair(k, priv, pub); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(priv)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %o", st.Mode().Perm())
	}
	if err := WriteKeyPair(k, priv, pub); err == nil {
		t.Fatal("overwrote an existing key")
	}
	k2, err := LoadPrivateKey(priv)
	if err != nil || k2.Public().KeyID() != k.Public().KeyID() {
		t.Fatalf("reload: %v", err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil || pk.KeyID() != k.Public().KeyID() {
		t.Fatalf("public reload: %v", err)
	}
	os.Chmod(priv, 0o640)
	if _, err := LoadPrivateKey(priv); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("group-readable key accepted: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	k, _ := GenerateKey(nil)
	ring := KeyRing{}
	ring.Add(k.Public())
	env, _ := SignRelease(testRelease(), k)
	f.Add(env.Marshal())
	f.Add([]byte(`{"payloadType":"a","payload":"","signatures":[{"keyid":"x","sig":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Open(data, ring)
		if err == nil && doc.Release == nil && doc.Advisory == nil {
			t.Fatal("accepted a document with no payload")
		}
	})
}
