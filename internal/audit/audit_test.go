package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/audit"
)

var t0 = time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC)

// testKey returns a deterministic Ed25519 identity key.
func testKey(t testing.TB, seed byte) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testStore is one kind of datastore the log must work on.
type testStore struct {
	name string
	open func(t *testing.T) datastore.Datastore
}

// testStores gives an in-memory datastore (batch path) and a real badger
// store (transaction path). open may be called again after the previous
// datastore was closed and returns the same data.
func testStores() []testStore {
	return []testStore{
		{"map", func() func(t *testing.T) datastore.Datastore {
			var d datastore.Datastore
			return func(t *testing.T) datastore.Datastore {
				if d == nil {
					d = dssync.MutexWrap(datastore.NewMapDatastore())
				}
				return d
			}
		}()},
		{"badger", func() func(t *testing.T) datastore.Datastore {
			var dir string
			return func(t *testing.T) datastore.Datastore {
				if dir == "" {
					dir = t.TempDir()
				}
				s, err := content.OpenStore(dir, content.StoreConfig{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s.DS
			}
		}()},
	}
}

// entry returns a varied entry number i.
func entry(i int) audit.Entry {
	events := []string{audit.EventAdvisoryReceived, audit.EventAuthorised, audit.EventTransition, audit.EventInstallStarted, audit.EventInstalled, audit.EventInstallFailed, audit.EventRolledBack}
	e := audit.Entry{
		Time:    t0.Add(time.Duration(i) * 97 * time.Second).Add(time.Duration(i) * time.Millisecond),
		Actor:   []string{"node", "policy", "owner:alice"}[i%3],
		Event:   events[i%len(events)],
		Release: fmt.Sprintf("fw-2.1.%d", i%4),
		Device:  []string{"", "plc-7", "rtu-12"}[i%3],
	}
	switch i % 4 {
	case 1:
		e.Details = map[string]string{audit.DetailSIA: "SIA-2025-014", audit.DetailDeadline: t0.Add(72 * time.Hour).Format(time.RFC3339), audit.DetailBy: "alice <a&b>"}
	case 2:
		e.Details = map[string]string{audit.DetailFrom: "announced", audit.DetailTo: "authorised"}
	case 3:
		e.Details = map[string]string{audit.DetailReason: "checksum \"ok\" ünïcode"}
	}
	return e
}

func appendN(t *testing.T, l *audit.Log, from, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for i := from; i < from+n; i++ {
		r, err := l.Append(context.Background(), entry(i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// wantNamed checks that err is a TamperError naming record seq first: its
// message starts "record N:" or "record N " and its Record field is N.
func wantNamed(t *testing.T, err error, seq uint64, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: verification passed", what)
	}
	if !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("%s: %v does not wrap ErrTampered", what, err)
	}
	var te *audit.TamperError
	if !errors.As(err, &te) || te.Record != seq {
		t.Fatalf("%s: %v: want record %d named", what, err, seq)
	}
	if !regexp.MustCompile(fmt.Sprintf(`^record %d[: ]`, seq)).MatchString(err.Error()) {
		t.Fatalf("%s: %q does not start by naming record %d", what, err, seq)
	}
}

func get(t *testing.T, d datastore.Datastore, k datastore.Key) []byte {
	t.Helper()
	v, err := d.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func put(t *testing.T, d datastore.Datastore, k datastore.Key, v []byte) {
	t.Helper()
	if err := d.Put(context.Background(), k, v); err != nil {
		t.Fatal(err)
	}
}

const nRecords = 50

// setup opens a log on a fresh store of kind st and appends nRecords.
func setup(t *testing.T, st testStore) (datastore.Datastore, crypto.PrivKey, []audit.Record) {
	t.Helper()
	d := st.open(t)
	key := testKey(t, 1)
	l, err := audit.Open(context.Background(), d, key)
	if err != nil {
		t.Fatal(err)
	}
	return d, key, appendN(t, l, 0, nRecords)
}

func TestAppendAndVerify(t *testing.T) {
	ctx := context.Background()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			d, key, appended := setup(t, st)
			recs, head, err := audit.VerifyStore(ctx, d, key.GetPublic())
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != nRecords || head == nil || head.Seq != nRecords || head.Hash != appended[nRecords-1].Hash() {
				t.Fatalf("got %d records, head %+v", len(recs), head)
			}
			if !reflect.DeepEqual(recs, appended) {
				t.Fatalf("stored records differ from those Append returned:\n%+v\n%+v", recs[1], appended[1])
			}
			for i, r := range recs {
				if r.Seq != uint64(i+1) {
					t.Fatalf("record %d has seq %d", i+1, r.Seq)
				}
				if i == 0 && r.Prev != "" || i > 0 && r.Prev != recs[i-1].Hash() {
					t.Fatalf("record %d: prev %q", r.Seq, r.Prev)
				}
			}
			if err := audit.Verify(recs, head, key.GetPublic()); err != nil {
				t.Fatal(err)
			}
			// Another node's key verifies nothing.
			wantNamed(t, audit.Verify(recs, head, testKey(t, 2).GetPublic()), 1, "wrong key")
			// Keys sort in sequence order, beyond 9 and 10.
			if k9, k10 := audit.RecordKey(9).String(), audit.RecordKey(10).String(); k9 >= k10 || !strings.HasPrefix(k9, audit.Prefix+"/") {
				t.Fatalf("keys %s, %s", k9, k10)
			}
		})
	}
}

// TestEveryByteFlipIsCaught changes every byte of every stored record in
// turn; each time VerifyStore must fail naming that record.
func TestEveryByteFlipIsCaught(t *testing.T) {
	ctx := context.Background()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			d, key, _ := setup(t, st)
			pub := key.GetPublic()
			flips := 0
			for seq := uint64(1); seq <= nRecords; seq++ {
				k := audit.RecordKey(seq)
				orig := get(t, d, k)
				masks := []byte{0xff}
				if st.name == "map" && (seq <= 2 || seq == 25 || seq >= nRecords-1) {
					// Single-bit flips as well: a digit changed by
					// one, or the case of a field name or a base64
					// padding bit changed, which encoding/json would
					// still decode.
					masks = append(masks, 0x01, 0x20)
				}
				for i := range orig {
					for _, m := range masks {
						v := bytes.Clone(orig)
						v[i] ^= m
						put(t, d, k, v)
						_, _, err := audit.VerifyStore(ctx, d, pub)
						wantNamed(t, err, seq, fmt.Sprintf("record %d byte %d ^%#x (%q)", seq, i, m, v[max(0, i-8):min(len(v), i+8)]))
						flips++
					}
				}
				put(t, d, k, orig)
			}
			if _, _, err := audit.VerifyStore(ctx, d, pub); err != nil {
				t.Fatalf("after restoring: %v", err)
			}
			t.Logf("%d flips caught", flips)
		})
	}
}

func TestRemovedRecordIsCaught(t *testing.T) {
	ctx := context.Background()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			d, key, _ := setup(t, st)
			pub := key.GetPublic()
			for _, seq := range []uint64{1, 2, 25, nRecords - 1, nRecords} {
				k := audit.RecordKey(seq)
				orig := get(t, d, k)
				if err := d.Delete(ctx, k); err != nil {
					t.Fatal(err)
				}
				_, _, err := audit.VerifyStore(ctx, d, pub)
				if seq == nRecords {
					// The last record is only missed by the head.
					if err == nil || !errors.Is(err, audit.ErrTampered) || err.Error() != "log ends at record 49 but the head says 50 (records removed)" {
						t.Fatalf("last record removed: %v", err)
					}
				} else {
					wantNamed(t, err, seq, fmt.Sprintf("record %d removed", seq))
					if !strings.Contains(err.Error(), "missing") {
						t.Fatalf("record %d removed: %v", seq, err)
					}
				}
				put(t, d, k, orig)
			}
			// Two removed in a row.
			for _, seq := range []uint64{10, 11} {
				if err := d.Delete(ctx, audit.RecordKey(seq)); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := audit.VerifyStore(ctx, d, pub)
			wantNamed(t, err, 10, "records 10 and 11 removed")
		})
	}
}

func TestSwappedRecordsAreCaught(t *testing.T) {
	ctx := context.Background()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			d, key, _ := setup(t, st)
			pub := key.GetPublic()
			for _, p := range [][2]uint64{{1, 2}, {3, 40}, {24, 26}, {49, 50}} {
				ka, kb := audit.RecordKey(p[0]), audit.RecordKey(p[1])
				va, vb := get(t, d, ka), get(t, d, kb)
				put(t, d, ka, vb)
				put(t, d, kb, va)
				_, _, err := audit.VerifyStore(ctx, d, pub)
				wantNamed(t, err, p[0], fmt.Sprintf("records %d and %d swapped", p[0], p[1]))
				put(t, d, ka, va)
				put(t, d, kb, vb)
			}
			// A record copied over another.
			orig7 := get(t, d, audit.RecordKey(7))
			put(t, d, audit.RecordKey(7), get(t, d, audit.RecordKey(6)))
			_, _, err := audit.VerifyStore(ctx, d, pub)
			wantNamed(t, err, 7, "record 6 copied over 7")
			put(t, d, audit.RecordKey(7), orig7)
			// The last record moved to the next key.
			last := get(t, d, audit.RecordKey(nRecords))
			if err := d.Delete(ctx, audit.RecordKey(nRecords)); err != nil {
				t.Fatal(err)
			}
			put(t, d, audit.RecordKey(nRecords+1), last)
			_, _, err = audit.VerifyStore(ctx, d, pub)
			wantNamed(t, err, nRecords+1, "record 50 moved to key 51")
		})
	}
}

// TestSplicedRecordIsCaught replaces a record with the record of the same
// number from another log of the same node (say, one kept before the log
// was wiped): its signature is genuine, the chain is not.
func TestSplicedRecordIsCaught(t *testing.T) {
	ctx := context.Background()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			d, key, _ := setup(t, st)
			other := dssync.MutexWrap(datastore.NewMapDatastore())
			l, err := audit.Open(ctx, other, key)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 1000, 20)
			put(t, d, audit.RecordKey(10), get(t, other, audit.RecordKey(10)))
			_, _, err = audit.VerifyStore(ctx, d, key.GetPublic())
			wantNamed(t, err, 10, "record 10 from another log")
			if !strings.Contains(err.Error(), "previous-hash mismatch") {
				t.Fatalf("spliced: %v", err)
			}
		})
	}
}

func TestHeadForgedOrDeleted(t *testing.T) {
	ctx := context.Background()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			d, key, recs := setup(t, st)
			pub := key.GetPublic()
			hk := datastore.NewKey(audit.HeadKey)
			orig := get(t, d, hk)
			check := func(what, want string) {
				t.Helper()
				_, _, err := audit.VerifyStore(ctx, d, pub)
				if err == nil || !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: %v, want ErrTampered mentioning %q", what, err, want)
				}
				put(t, d, hk, orig)
			}
			// Deleted.
			if err := d.Delete(ctx, hk); err != nil {
				t.Fatal(err)
			}
			check("head deleted", "head is missing")
			// Forged by another key, claiming one more record.
			other := testKey(t, 3)
			h := audit.Head{Seq: nRecords + 1, Hash: recs[nRecords-1].Hash()}
			h.Sig, _ = other.Sign(h.SigningBytes())
			put(t, d, hk, mustJSON(t, h))
			check("head forged", "head: signature does not verify")
			// An older genuine head while the records after it remain.
			old := audit.Head{Seq: nRecords - 1, Hash: recs[nRecords-2].Hash()}
			old.Sig, _ = key.Sign(old.SigningBytes())
			put(t, d, hk, mustJSON(t, old))
			check("old head", "the head says 49")
			// Genuinely signed but pointing at the wrong hash.
			wrong := audit.Head{Seq: nRecords, Hash: recs[0].Hash()}
			wrong.Sig, _ = key.Sign(wrong.SigningBytes())
			put(t, d, hk, mustJSON(t, wrong))
			check("head hash", "head: hash does not match record 50")
			// Every byte of the head.
			for i := range orig {
				v := bytes.Clone(orig)
				v[i] ^= 0xff
				put(t, d, hk, v)
				check(fmt.Sprintf("head byte %d", i), "head")
			}
			// An empty log with a head left behind.
			d2 := dssync.MutexWrap(datastore.NewMapDatastore())
			put(t, d2, hk, orig)
			if _, _, err := audit.VerifyStore(ctx, d2, pub); err == nil || err.Error() != "log ends at record 0 but the head says 50 (records removed)" {
				t.Fatalf("head without records: %v", err)
			}
			// A stray key under the prefix.
			put(t, d, datastore.NewKey(audit.Prefix+"/extra"), []byte("{}"))
			if _, _, err := audit.VerifyStore(ctx, d, pub); err == nil || !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), "unexpected key") {
				t.Fatalf("stray key: %v", err)
			}
		})
	}
}

func TestReopenContinuesChain(t *testing.T) {
	ctx := context.Background()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			d, key, first := setup(t, st)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d = st.open(t)
			l, err := audit.Open(ctx, d, key)
			if err != nil {
				t.Fatal(err)
			}
			if h := l.Head(); h.Seq != nRecords || h.Hash != first[nRecords-1].Hash() {
				t.Fatalf("reopened head %+v", h)
			}
			more := appendN(t, l, nRecords, 5)
			if more[0].Seq != nRecords+1 || more[0].Prev != first[nRecords-1].Hash() {
				t.Fatalf("first record after reopening: seq %d prev %q", more[0].Seq, more[0].Prev)
			}
			recs, err := l.Records(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != nRecords+5 {
				t.Fatalf("%d records", len(recs))
			}
			if _, head, err := audit.VerifyStore(ctx, d, key.GetPublic()); err != nil || head.Seq != nRecords+5 {
				t.Fatalf("after reopening: %v, head %+v", err, head)
			}
			// A tampered log is not continued.
			k := audit.RecordKey(30)
			orig := get(t, d, k)
			v := bytes.Clone(orig)
			v[len(v)/2] ^= 0x01
			put(t, d, k, v)
			if _, err := audit.Open(ctx, d, key); err == nil || !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), "record 30") || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("Open on a tampered log: %v", err)
			}
			put(t, d, k, orig)
			// Nor is a log by another key.
			if _, err := audit.Open(ctx, d, testKey(t, 4)); err == nil || !errors.Is(err, audit.ErrTampered) {
				t.Fatalf("Open with another key: %v", err)
			}
		})
	}
}

// TestVerifyRecords covers Verify on decoded records: any field changed,
// records removed, swapped, or the head missing.
func TestVerifyRecords(t *testing.T) {
	st := testStores()[0]
	d, key, recs := setup(t, st)
	pub := key.GetPublic()
	_, head, err := audit.VerifyStore(context.Background(), d, pub)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() []audit.Record {
		out := make([]audit.Record, len(recs))
		for i, r := range recs {
			r.Sig = bytes.Clone(r.Sig)
			if r.Details != nil {
				m := map[string]string{}
				for k, v := range r.Details {
					m[k] = v
				}
				r.Details = m
			}
			out[i] = r
		}
		return out
	}
	changes := map[string]func(r *audit.Record){
		"time":            func(r *audit.Record) { r.Time = r.Time.Add(time.Nanosecond) },
		"actor":           func(r *audit.Record) { r.Actor += "x" },
		"event":           func(r *audit.Record) { r.Event = audit.EventRejected },
		"release":         func(r *audit.Record) { r.Release = "fw-9" },
		"device":          func(r *audit.Record) { r.Device = "plc-8" },
		"details added":   func(r *audit.Record) { r.Details = map[string]string{"x": ""} },
		"details removed": func(r *audit.Record) { r.Details = nil; r.Event += "!" },
		"prev":            func(r *audit.Record) { r.Prev = strings.Repeat("0", 64) },
		"sig":             func(r *audit.Record) { r.Sig[10] ^= 1 },
		"seq":             func(r *audit.Record) { r.Seq += 100 },
	}
	for name, change := range changes {
		for _, seq := range []uint64{1, 17, nRecords} {
			rs := clone()
			change(&rs[seq-1])
			wantNamed(t, audit.Verify(rs, head, pub), seq, fmt.Sprintf("%s of record %d changed", name, seq))
		}
	}
	rs := clone()
	rs[16], rs[17] = rs[17], rs[16]
	wantNamed(t, audit.Verify(rs, head, pub), 17, "records 17 and 18 swapped")
	rs = append(clone()[:16], clone()[17:]...)
	wantNamed(t, audit.Verify(rs, head, pub), 17, "record 17 removed")
	if err := audit.Verify(clone()[:nRecords-1], head, pub); err == nil || !strings.Contains(err.Error(), "log ends at record 49 but the head says 50") {
		t.Fatalf("last record removed: %v", err)
	}
	if err := audit.Verify(clone(), nil, pub); !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("head missing: %v", err)
	}
	if err := audit.Verify(nil, nil, pub); err != nil {
		t.Fatalf("empty log: %v", err)
	}
}

// TestVerifyManualChain builds a log by hand as doc.go describes it and
// checks Verify accepts it; then one record signed by another key inside an
// otherwise consistent chain and head must still be named.
func TestVerifyManualChain(t *testing.T) {
	key, stranger := testKey(t, 1), testKey(t, 6)
	build := func(signer func(seq uint64) crypto.PrivKey) ([]audit.Record, *audit.Head) {
		var recs []audit.Record
		prev := ""
		for i := 0; i < 20; i++ {
			e := entry(i)
			r := audit.Record{Seq: uint64(i + 1), Time: e.Time, Actor: e.Actor, Event: e.Event, Release: e.Release, Device: e.Device, Details: e.Details, Prev: prev}
			var err error
			if r.Sig, err = signer(r.Seq).Sign(r.SigningBytes()); err != nil {
				t.Fatal(err)
			}
			prev = r.Hash()
			recs = append(recs, r)
		}
		h := &audit.Head{Seq: 20, Hash: prev}
		h.Sig, _ = key.Sign(h.SigningBytes())
		return recs, h
	}
	recs, head := build(func(uint64) crypto.PrivKey { return key })
	if err := audit.Verify(recs, head, key.GetPublic()); err != nil {
		t.Fatalf("hand-built log: %v", err)
	}
	// The same records through Log.Append hash the same.
	l, err := audit.Open(context.Background(), dssync.MutexWrap(datastore.NewMapDatastore()), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendN(t, l, 0, 20); got[19].Hash() != head.Hash {
		t.Fatal("Append's chain differs from the documented construction")
	}
	recs, head = build(func(seq uint64) crypto.PrivKey {
		if seq == 7 {
			return stranger
		}
		return key
	})
	wantNamed(t, audit.Verify(recs, head, key.GetPublic()), 7, "record 7 signed by another key")
}

// TestEncodingLayout pins the signed encoding and the chain hash to the
// layout doc.go documents: changing either breaks every stored log.
func TestEncodingLayout(t *testing.T) {
	r := audit.Record{
		Seq: 3, Time: time.Date(2025, 3, 4, 8, 0, 0, 5, time.UTC), Actor: "node", Event: audit.EventInstalled,
		Release: "fw-1", Device: "plc-7", Details: map[string]string{"to": "b", "from": "a"}, Prev: "ab", Sig: []byte{1, 2, 3},
	}
	var w bytes.Buffer
	u64 := func(v uint64) { _ = binary.Write(&w, binary.BigEndian, v) }
	str := func(s string) { u64(uint64(len(s))); w.WriteString(s) }
	w.WriteString("tocsin audit record v1\x00")
	u64(3)
	u64(uint64(r.Time.Unix()))
	_ = binary.Write(&w, binary.BigEndian, uint32(5))
	str("node")
	str("installed")
	str("fw-1")
	str("plc-7")
	u64(2)
	str("from")
	str("a")
	str("to")
	str("b")
	str("ab")
	if !bytes.Equal(r.SigningBytes(), w.Bytes()) {
		t.Fatalf("record encoding\n%x\nwant\n%x", r.SigningBytes(), w.Bytes())
	}
	u64(3)
	w.Write([]byte{1, 2, 3})
	if sum := sha256.Sum256(w.Bytes()); r.Hash() != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash %s", r.Hash())
	}
	w.Reset()
	w.WriteString("tocsin audit head v1\x00")
	u64(3)
	str("ab")
	if h := (audit.Head{Seq: 3, Hash: "ab", Sig: []byte{9}}); !bytes.Equal(h.SigningBytes(), w.Bytes()) {
		t.Fatalf("head encoding %x", h.SigningBytes())
	}
	// The stored form is the compact JSON, time in UTC.
	b, _ := json.Marshal(r)
	if want := `{"seq":3,"time":"2025-03-04T08:00:00.000000005Z","actor":"node","event":"installed","release":"fw-1","device":"plc-7","details":{"from":"a","to":"b"},"prev":"ab","sig":"AQID"}`; string(b) != want {
		t.Fatalf("JSON %s", b)
	}
}

// TestSigningBytesInjective: moving text across field boundaries changes
// the encoding.
func TestSigningBytesInjective(t *testing.T) {
	base := audit.Record{Seq: 1, Time: t0}
	variants := []audit.Record{
		{Actor: "ab", Event: "c"},
		{Actor: "a", Event: "bc"},
		{Event: "abc"},
		{Release: "abc"},
		{Device: "abc"},
		{Prev: "abc"},
		{Details: map[string]string{"a": "bc"}},
		{Details: map[string]string{"ab": "c"}},
		{Details: map[string]string{"a": "", "bc": ""}},
		{Details: map[string]string{"a": "b", "c": ""}},
		{Details: map[string]string{}, Actor: "\x00"},
	}
	seen := map[string]int{}
	for i, v := range variants {
		v.Seq, v.Time = base.Seq, base.Time
		b := string(v.SigningBytes())
		if j, ok := seen[b]; ok {
			t.Errorf("variants %d and %d encode the same", j, i)
		}
		seen[b] = i
	}
	a := audit.Record{Seq: 1, Time: t0}
	b := a
	b.Time = t0.In(time.FixedZone("CET", 3600))
	if !bytes.Equal(a.SigningBytes(), b.SigningBytes()) {
		t.Error("the same instant in another zone encodes differently")
	}
	b.Time = t0.Add(time.Nanosecond)
	if bytes.Equal(a.SigningBytes(), b.SigningBytes()) {
		t.Error("a nanosecond later encodes the same")
	}
}

func TestAppendRejectsBadEntries(t *testing.T) {
	l, err := audit.Open(context.Background(), dssync.MutexWrap(datastore.NewMapDatastore()), testKey(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]audit.Entry{
		"no time":         {Actor: "node", Event: audit.EventInstalled},
		"no actor":        {Time: t0, Event: audit.EventInstalled},
		"no event":        {Time: t0, Actor: "node"},
		"bad utf-8":       {Time: t0, Actor: "node\xff", Event: audit.EventInstalled},
		"bad detail":      {Time: t0, Actor: "node", Event: audit.EventInstalled, Details: map[string]string{"reason": "\xc3"}},
		"empty key":       {Time: t0, Actor: "node", Event: audit.EventInstalled, Details: map[string]string{"": "x"}},
		"year 10000":      {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Actor: "node", Event: audit.EventInstalled},
		"far in the past": {Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), Actor: "node", Event: audit.EventInstalled},
	} {
		if _, err := l.Append(context.Background(), e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if h := l.Head(); h.Seq != 0 {
		t.Fatalf("rejected entries advanced the head: %+v", h)
	}
	// A time in another zone is stored as UTC and still verifies.
	r, err := l.Append(context.Background(), audit.Entry{Time: t0.In(time.FixedZone("CET", 3600)), Actor: "node", Event: audit.EventInstalled})
	if err != nil || r.Time.Location() != time.UTC || !r.Time.Equal(t0) {
		t.Fatalf("append: %v, time %v", err, r.Time)
	}
}

func TestOpenNeedsBatchOrTxn(t *testing.T) {
	if _, err := audit.Open(context.Background(), plainDS{datastore.NewMapDatastore()}, testKey(t, 1)); err == nil {
		t.Fatal("Open accepted a datastore without batches or transactions")
	}
	if _, err := audit.Open(context.Background(), datastore.NewMapDatastore(), nil); err == nil {
		t.Fatal("Open accepted no key")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plainDS hides every optional feature of a datastore.
type plainDS struct{ datastore.Datastore }
