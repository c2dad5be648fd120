package trust

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// MaxEnvelopeSize caps an envelope as read from the network or a file.
const MaxEnvelopeSize = 1 << 20

// Errors returned by ParseEnvelope and Verify. Callers use errors.Is.
var (
	ErrMalformed   = errors.New("malformed envelope")
	ErrUnsigned    = errors.New("envelope has no signature")
	ErrUnknownKey  = errors.New("signed by a key the root does not know")
	ErrBadSig      = errors.New("signature does not verify")
	ErrPayloadType = errors.New("unexpected payload type")
)

// Envelope is a DSSE envelope: a payload, its type, and signatures over
// PAE(payloadType, payload). Payload bytes are kept exactly as signed.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one signature in an Envelope.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// Sign wraps payload in an envelope signed by k.
func Sign(payloadType string, payload []byte, k *PrivateKey) Envelope {
	return SignWith(payloadType, payload, k)
}

// SignWith wraps payload in an envelope signed by every key in keys.
func SignWith(payloadType string, payload []byte, keys ...*PrivateKey) Envelope {
	e := Envelope{PayloadType: payloadType, Payload: append([]byte(nil), payload...)}
	for _, k := range keys {
		e = e.AddSignature(k)
	}
	return e
}

// AddSignature returns e with k's signature added (or replaced, if k had
// signed already). Threshold roles are signed this way, one holder at a time.
func (e Envelope) AddSignature(k *PrivateKey) Envelope {
	id := k.Public().KeyID()
	sigs := make([]Signature, 0, len(e.Signatures)+1)
	for _, s := range e.Signatures {
		if s.KeyID != id {
			sigs = append(sigs, s)
		}
	}
	e.Signatures = append(sigs, Signature{KeyID: id, Sig: ed25519.Sign(k.key, PAE(e.PayloadType, e.Payload))})
	return e
}

// Marshal returns the envelope's wire form.
func (e Envelope) Marshal() []byte {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen: only strings and byte slices
		panic(err)
	}
	return b
}

// ParseEnvelope decodes an envelope from untrusted bytes. It checks shape
// only; call Verify before using the payload.
func ParseEnvelope(data []byte) (Envelope, error) {
	if len(data) > MaxEnvelopeSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxEnvelopeSize)
	}
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.More() {
		return Envelope{}, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if e.PayloadType == "" || len(e.Payload) == 0 {
		return Envelope{}, fmt.Errorf("%w: empty payload or payload type", ErrMalformed)
	}
	if len(e.Signatures) == 0 {
		return Envelope{}, ErrUnsigned
	}
	if len(e.Signatures) > 16 {
		return Envelope{}, fmt.Errorf("%w: %d signatures, limit 16", ErrMalformed, len(e.Signatures))
	}
	return e, nil
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}
