package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
)

const (
	// Prefix is the datastore key prefix of the records.
	Prefix = "/tocsin/audit"
	// HeadKey is the datastore key of the signed head.
	HeadKey = "/tocsin/audit-head"

	seqDigits = 20 // enough for every uint64
	recordTag = "tocsin audit record v1\x00"
	headTag   = "tocsin audit head v1\x00"
)

// ErrTampered is wrapped by every error that reports the stored log as
// changed: a record corrupt, changed, removed, moved or added, or the head
// forged, changed or missing.
var ErrTampered = errors.New("audit log tampered")

// TamperError is the error type of every verification failure. Its message
// names the record, e.g. "record 17: signature does not verify".
type TamperError struct {
	// Record is the sequence number of the record named, or 0 when the
	// failure is about the head or the log as a whole.
	Record uint64
	// Msg is the whole message.
	Msg string
}

func (e *TamperError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrTampered) true.
func (e *TamperError) Unwrap() error { return ErrTampered }

func tampered(rec uint64, format string, args ...any) error {
	return &TamperError{Record: rec, Msg: fmt.Sprintf(format, args...)}
}

// Record is one entry of the log as stored.
type Record struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Event   string            `json:"event"`
	Release string            `json:"release,omitempty"`
	Device  string            `json:"device,omitempty"`
	Details map[string]string `json:"details,omitempty"`
	// Prev is the Hash of the previous record, "" for record 1.
	Prev string `json:"prev,omitempty"`
	// Sig is the node identity key's signature over SigningBytes.
	Sig []byte `json:"sig"`
}

// Entry is what the caller appends; the log adds Seq, Prev and Sig.
type Entry struct {
	Time    time.Time
	Actor   string
	Event   string
	Release string
	Device  string
	Details map[string]string
}

// Head is the signed pointer to the last record. Its Sig is over
// Head.SigningBytes.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	Sig  []byte `json:"sig"`
}

func putU64(b *bytes.Buffer, v uint64) {
	var a [8]byte
	binary.BigEndian.PutUint64(a[:], v)
	b.Write(a[:])
}

func putStr(b *bytes.Buffer, s string) {
	putU64(b, uint64(len(s)))
	b.WriteString(s)
}

// SigningBytes is the deterministic encoding the signature covers: every
// field but Sig.
//
//	"tocsin audit record v1" 0x00
//	seq                      uint64
//	time                     int64 Unix seconds, uint32 nanoseconds (UTC)
//	actor, event, release, device, each as uint64 length + bytes
//	details                  uint64 count, then key and value (length + bytes) per pair, sorted by key
//	prev                     uint64 length + bytes
//
// All integers are big-endian. Every variable-length part is preceded by
// its length, so the encoding is injective and prefix-free.
func (r Record) SigningBytes() []byte {
	var b bytes.Buffer
	b.WriteString(recordTag)
	putU64(&b, r.Seq)
	putU64(&b, uint64(r.Time.Unix()))
	var ns [4]byte
	binary.BigEndian.PutUint32(ns[:], uint32(r.Time.Nanosecond()))
	b.Write(ns[:])
	putStr(&b, r.Actor)
	putStr(&b, r.Event)
	putStr(&b, r.Release)
	putStr(&b, r.Device)
	keys := make([]string, 0, len(r.Details))
	for k := range r.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	putU64(&b, uint64(len(keys)))
	for _, k := range keys {
		putStr(&b, k)
		putStr(&b, r.Details[k])
	}
	putStr(&b, r.Prev)
	return b.Bytes()
}

// Hash is the hex SHA-256 of the signed record: SigningBytes followed by the
// signature's length and bytes. The next record's Prev and the head carry it.
func (r Record) Hash() string {
	var b bytes.Buffer
	b.Write(r.SigningBytes())
	putU64(&b, uint64(len(r.Sig)))
	b.Write(r.Sig)
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// SigningBytes is the encoding the head's signature covers:
// "tocsin audit head v1" 0x00, seq as uint64, hash as uint64 length + bytes.
func (h Head) SigningBytes() []byte {
	var b bytes.Buffer
	b.WriteString(headTag)
	putU64(&b, h.Seq)
	putStr(&b, h.Hash)
	return b.Bytes()
}

// RecordKey is the datastore key of record seq.
func RecordKey(seq uint64) datastore.Key {
	return datastore.NewKey(fmt.Sprintf("%s/%0*d", Prefix, seqDigits, seq))
}

// parseRecordKey returns the sequence number of a record key, or 0.
func parseRecordKey(k string) uint64 {
	name, ok := strings.CutPrefix(k, Prefix+"/")
	if !ok || len(name) != seqDigits {
		return 0
	}
	for _, c := range name {
		if c < '0' || c > '9' {
			return 0
		}
	}
	n, err := strconv.ParseUint(name, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Log appends to one node's audit log. Its methods are safe for concurrent
// use; only one Log may write a datastore at a time.
type Log struct {
	mu   sync.Mutex
	ds   datastore.Datastore
	key  crypto.PrivKey
	pub  crypto.PubKey
	head Head
}

// Open opens the log in d, to be signed with key (the node's libp2p
// identity key). It reads and verifies the whole stored log (one signature
// check per record) and refuses, with an error wrapping ErrTampered, to
// continue a log that fails verification. d must support transactions or
// batches.
func Open(ctx context.Context, d datastore.Datastore, key crypto.PrivKey) (*Log, error) {
	if key == nil {
		return nil, errors.New("audit: no signing key")
	}
	_, isTxn := d.(datastore.TxnDatastore)
	_, isBatch := d.(datastore.Batching)
	if !isTxn && !isBatch {
		return nil, errors.New("audit: the datastore supports neither transactions nor batches")
	}
	_, head, err := VerifyStore(ctx, d, key.GetPublic())
	if err != nil {
		if errors.Is(err, ErrTampered) {
			return nil, fmt.Errorf("audit log fails verification, refusing to append to it: %w", err)
		}
		return nil, err
	}
	l := &Log{ds: d, key: key, pub: key.GetPublic()}
	if head != nil {
		l.head = *head
	}
	return l, nil
}

// Head returns the current head; its Seq is the number of records (0 for an
// empty log).
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

func checkEntry(e Entry) error {
	if e.Time.IsZero() {
		return errors.New("audit: entry has no time")
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("audit: entry time %s is out of range", e.Time)
	}
	if e.Actor == "" || e.Event == "" {
		return errors.New("audit: entry needs an actor and an event")
	}
	strs := []string{e.Actor, e.Event, e.Release, e.Device}
	for k, v := range e.Details {
		if k == "" {
			return errors.New("audit: entry has an empty details key")
		}
		strs = append(strs, k, v)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("audit: entry text %q is not valid UTF-8", s)
		}
	}
	return nil
}

// Append signs and stores e as the next record, with the new head, in one
// transaction (or batch), then syncs the store. e.Time is the event time:
// the package has no clock. If the write committed but the sync failed,
// Append returns the record (which is in the log) and an error.
func (l *Log) Append(ctx context.Context, e Entry) (Record, error) {
	if err := checkEntry(e); err != nil {
		return Record{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := Record{
		Seq:     l.head.Seq + 1,
		Time:    e.Time.UTC().Round(0),
		Actor:   e.Actor,
		Event:   e.Event,
		Release: e.Release,
		Device:  e.Device,
		Prev:    l.head.Hash,
	}
	if len(e.Details) > 0 {
		rec.Details = make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			rec.Details[k] = v
		}
	}
	var err error
	if rec.Sig, err = l.key.Sign(rec.SigningBytes()); err != nil {
		return Record{}, fmt.Errorf("audit: sign record %d: %w", rec.Seq, err)
	}
	head := Head{Seq: rec.Seq, Hash: rec.Hash()}
	if head.Sig, err = l.key.Sign(head.SigningBytes()); err != nil {
		return Record{}, fmt.Errorf("audit: sign head: %w", err)
	}
	recBytes, err := json.Marshal(rec)
	if err != nil {
		return Record{}, fmt.Errorf("audit: encode record %d: %w", rec.Seq, err)
	}
	headBytes, err := json.Marshal(head)
	if err != nil {
		return Record{}, fmt.Errorf("audit: encode head: %w", err)
	}
	if err := l.write(ctx, RecordKey(rec.Seq), recBytes, headBytes); err != nil {
		return Record{}, fmt.Errorf("audit: write record %d: %w", rec.Seq, err)
	}
	l.head = head
	if err := l.ds.Sync(ctx, datastore.NewKey("/tocsin")); err != nil {
		return rec, fmt.Errorf("audit: record %d written but not synced: %w", rec.Seq, err)
	}
	return rec, nil
}

// write puts the record and the head atomically.
func (l *Log) write(ctx context.Context, k datastore.Key, rec, head []byte) error {
	var w interface {
		datastore.Write
		Commit(context.Context) error
	}
	if td, ok := l.ds.(datastore.TxnDatastore); ok {
		txn, err := td.NewTransaction(ctx, false)
		if err != nil {
			return err
		}
		defer txn.Discard(ctx)
		w = txn
	} else {
		b, err := l.ds.(datastore.Batching).Batch(ctx)
		if err != nil {
			return err
		}
		w = b
	}
	if err := w.Put(ctx, k, rec); err != nil {
		return err
	}
	if err := w.Put(ctx, datastore.NewKey(HeadKey), head); err != nil {
		return err
	}
	return w.Commit(ctx)
}

// Records returns every stored record in sequence order. It decodes them
// (an undecodable one is an ErrTampered error naming it) but does not check
// signatures or the chain: use Verify or VerifyStore for that.
func (l *Log) Records(ctx context.Context) ([]Record, error) {
	s, err := readStore(ctx, l.ds)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(s.items))
	for i := range s.items {
		it := &s.items[i]
		if it.decode(); it.bad != nil {
			return nil, it.bad
		}
		recs[i] = it.rec
	}
	return recs, nil
}

// item is one record as read for verification.
type item struct {
	key uint64 // sequence number from the datastore key; 0 when not from a store
	raw []byte // the stored value, until decoded into rec
	rec Record
	bad error // the stored bytes are not a canonical record
}

// decode decodes it.raw into it.rec once; a value that is not a canonical
// record sets it.bad.
func (it *item) decode() {
	if it.raw == nil {
		return
	}
	if err := decodeCanonical(it.raw, &it.rec); err != nil {
		it.bad = tampered(it.key, "record %d: corrupt (%v)", it.key, err)
	}
	it.raw = nil
}

type stored struct {
	items   []item
	head    *Head
	headBad error
}

// decodeCanonical decodes v into out and reports whether v is exactly the
// encoding json.Marshal gives the decoded value.
func decodeCanonical[T any](v []byte, out *T) error {
	if err := json.Unmarshal(v, out); err != nil {
		return err
	}
	again, err := json.Marshal(*out)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, v) {
		return errors.New("not in canonical form")
	}
	return nil
}

// readStore reads the records and head, in one read-only transaction when
// the datastore supports it. Only I/O failures are returned as errors;
// undecodable values are reported in the result.
func readStore(ctx context.Context, d datastore.Datastore) (stored, error) {
	var r datastore.Read = d
	if td, ok := d.(datastore.TxnDatastore); ok {
		txn, err := td.NewTransaction(ctx, true)
		if err != nil {
			return stored{}, fmt.Errorf("audit: read log: %w", err)
		}
		defer txn.Discard(ctx)
		r = txn
	}
	var s stored
	res, err := r.Query(ctx, query.Query{Prefix: Prefix})
	if err != nil {
		return stored{}, fmt.Errorf("audit: read log: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return stored{}, fmt.Errorf("audit: read log: %w", err)
	}
	var strays []string
	for _, e := range entries {
		seq := parseRecordKey(e.Key)
		if seq == 0 {
			strays = append(strays, e.Key)
			continue
		}
		raw := e.Value
		if raw == nil {
			raw = []byte{}
		}
		s.items = append(s.items, item{key: seq, raw: raw})
	}
	sort.Slice(s.items, func(i, j int) bool { return s.items[i].key < s.items[j].key })
	if len(strays) > 0 {
		sort.Strings(strays)
		// Reported before anything else: a key that is not a record key
		// was not written by Append.
		s.items = append([]item{{bad: tampered(0, "unexpected key %s in the audit log", strays[0])}}, s.items...)
	}
	hb, err := r.Get(ctx, datastore.NewKey(HeadKey))
	switch {
	case errors.Is(err, datastore.ErrNotFound):
	case err != nil:
		return stored{}, fmt.Errorf("audit: read head: %w", err)
	default:
		var h Head
		if err := decodeCanonical(hb, &h); err != nil {
			s.headBad = tampered(0, "head: corrupt (%v)", err)
		} else {
			s.head = &h
		}
	}
	return s, nil
}

// VerifyStore reads the raw log and head from d and verifies them as Verify
// does, and also that every stored value is a canonical record stored under
// its own sequence number. Records are named by their keys, so a value that
// no longer decodes is "record N: corrupt". It returns the verified records
// and head (nil for an empty log). Errors about the log wrap ErrTampered.
func VerifyStore(ctx context.Context, d datastore.Datastore, pub crypto.PubKey) ([]Record, *Head, error) {
	s, err := readStore(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	if err := verify(s.items, s.head, s.headBad, pub); err != nil {
		return nil, nil, err
	}
	recs := make([]Record, len(s.items))
	for i, it := range s.items {
		recs[i] = it.rec
	}
	return recs, s.head, nil
}

// Verify checks records (the whole log, in order) and head against the
// node's public key. It detects a changed byte in any record (signature or
// hash), a removed record (sequence gap, previous-hash mismatch, or the
// head), records swapped or moved, and a forged, changed or missing head.
// The error names the record and wraps ErrTampered. A nil head is only
// valid for an empty log.
func Verify(records []Record, head *Head, pub crypto.PubKey) error {
	items := make([]item, len(records))
	for i, r := range records {
		items[i] = item{rec: r}
	}
	return verify(items, head, nil, pub)
}

func sigOK(pub crypto.PubKey, data, sig []byte) bool {
	ok, err := pub.Verify(data, sig)
	return ok && err == nil
}

// verify checks, in order: the structure of every record (decoding, key,
// sequence, previous hash), then the head, then every signature. A
// structural break is attributed by checking the signatures of the records
// on either side of it, so that a changed record is named rather than its
// successor.
func verify(items []item, head *Head, headBad error, pub crypto.PubKey) error {
	if pub == nil {
		return errors.New("audit: no public key to verify with")
	}
	recSigOK := func(r Record) bool { return sigOK(pub, r.SigningBytes(), r.Sig) }
	badSig := func(seq uint64) error {
		return tampered(seq, "record %d: signature does not verify", seq)
	}
	n := uint64(len(items))
	var lastHash string
	for i := range items {
		it := &items[i]
		want := uint64(i) + 1
		if it.decode(); it.bad != nil {
			return it.bad
		}
		r := it.rec
		if it.key != 0 && r.Seq != it.key {
			if !recSigOK(r) {
				return badSig(it.key)
			}
			return tampered(it.key, "record %d: holds record %d (records swapped, moved or copied)", it.key, r.Seq)
		}
		if r.Seq != want {
			if !recSigOK(r) {
				if it.key != 0 {
					return badSig(it.key)
				}
				return badSig(want)
			}
			switch {
			case i == 0:
				return tampered(1, "record 1 is missing: the log starts at record %d (records removed)", r.Seq)
			case r.Seq > want:
				return tampered(want, "record %d is missing: record %d follows record %d (records removed or moved)", want, r.Seq, want-1)
			default:
				return tampered(want, "record %d: holds record %d (records moved or copied)", want, r.Seq)
			}
		}
		if r.Prev != lastHash {
			if i > 0 && !recSigOK(items[i-1].rec) {
				return badSig(want - 1)
			}
			if !recSigOK(r) {
				return badSig(want)
			}
			if i == 0 {
				return tampered(1, "record 1: has a previous hash but is the first record")
			}
			return tampered(want, "record %d: previous-hash mismatch (record %d was changed, removed or moved, or record %d replaced)", want, want-1, want)
		}
		lastHash = r.Hash()
	}
	switch {
	case headBad != nil:
		return headBad
	case head == nil && n == 0:
		return nil
	case head == nil:
		return tampered(0, "the head is missing but the log has %d records (head deleted)", n)
	}
	if !sigOK(pub, head.SigningBytes(), head.Sig) {
		if n > 0 && !recSigOK(items[0].rec) {
			return tampered(1, "record 1: signature does not verify, nor does the head (wrong node key, or the log was forged)")
		}
		return tampered(0, "head: signature does not verify (head forged or changed)")
	}
	if head.Seq > n {
		return tampered(n+1, "log ends at record %d but the head says %d (records removed)", n, head.Seq)
	}
	if head.Seq < n {
		return tampered(head.Seq+1, "log has %d records but the head says %d (records added after the head, or an old head put back)", n, head.Seq)
	}
	if head.Hash != lastHash {
		if !recSigOK(items[n-1].rec) {
			return badSig(n)
		}
		return tampered(n, "head: hash does not match record %d (record %d replaced, or the head changed)", n, n)
	}
	for _, it := range items {
		if !recSigOK(it.rec) {
			return badSig(it.rec.Seq)
		}
	}
	return nil
}
