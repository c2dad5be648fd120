package trust

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tocsin-iiot/tocsin/internal/fsutil"
)

// ErrKeyFile is wrapped by every error about reading or writing a key file.
var ErrKeyFile = errors.New("key file")

// PrivateKey is a supplier or operator signing key.
type PrivateKey struct {
	key ed25519.PrivateKey
}

// PublicKey is a verification key and its identifier.
type PublicKey struct {
	Key ed25519.PublicKey
}

// KeyID is the hex SHA-256 of the raw 32-byte Ed25519 public key.
func (p PublicKey) KeyID() string {
	sum := sha256.Sum256(p.Key)
	return hex.EncodeToString(sum[:])
}

// Public returns the verification half of k.
func (k *PrivateKey) Public() PublicKey {
	return PublicKey{Key: k.key.Public().(ed25519.PublicKey)}
}

// GenerateKey makes a new Ed25519 signing key from r (crypto/rand.Reader in
// production; a seeded reader in tests).
func GenerateKey(r io.Reader) (*PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return &PrivateKey{key: priv}, nil
}

// NewPrivateKey wraps an existing Ed25519 key.
func NewPrivateKey(k ed25519.PrivateKey) *PrivateKey { return &PrivateKey{key: k} }

// WriteKeyPair writes the private key as PKCS#8 PEM to privPath with mode
// 0600 and the public key as PKIX PEM to pubPath with mode 0644. It refuses
// to overwrite existing files.
func WriteKeyPair(k *PrivateKey, privPath, pubPath string) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return fmt.Errorf("%w: encode private key: %w", ErrKeyFile, err)
	}
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	pder, err := x509.MarshalPKIXPublicKey(k.Public().Key)
	if err != nil {
		return fmt.Errorf("%w: encode public key: %w", ErrKeyFile, err)
	}
	return writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644)
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	if err := fsutil.WriteNew(path, data, mode); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return nil
}

// LoadPrivateKey reads a PKCS#8 PEM Ed25519 key. Like ssh, it refuses a key
// file that other users can read.
func LoadPrivateKey(path string) (*PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible by other users (mode %04o); run chmod 600 on it", ErrKeyFile, path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s is not a PEM \"PRIVATE KEY\" file", ErrKeyFile, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, want an Ed25519 key", ErrKeyFile, path, k)
	}
	return &PrivateKey{key: ek}, nil
}

// ParsePublicKey reads a PKIX PEM Ed25519 public key.
func ParsePublicKey(data []byte) (PublicKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return PublicKey{}, fmt.Errorf("%w: not a PEM \"PUBLIC KEY\"", ErrKeyFile)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return PublicKey{}, fmt.Errorf("%w: holds a %T, want an Ed25519 key", ErrKeyFile, k)
	}
	return PublicKey{Key: ek}, nil
}

// LoadPublicKey reads a PKIX PEM Ed25519 public key file.
func LoadPublicKey(path string) (PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	pk, err := ParsePublicKey(data)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return pk, nil
}

// MarshalPublicKey encodes pk as PKIX PEM.
func MarshalPublicKey(pk PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pk.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: encode public key: %w", ErrKeyFile, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
