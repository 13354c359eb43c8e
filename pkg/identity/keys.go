package identity

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MinKeyBytes is the smallest accepted key: 256 bits, the HMAC-SHA256 block
// of security the contract promises.
const MinKeyBytes = 32

// Key is one named HMAC key.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring holds the keys of IDENTITY_KEYS. The first key signs; every key
// verifies, so a new key can be rolled out (added second, then moved first)
// without downtime.
type Keyring struct {
	keys   []Key
	byID   map[string]*poolKey
	signer *poolKey
}

// NewKeyring returns a keyring for keys, the first of which signs. It fails
// on no keys, a duplicate or malformed id, or a key shorter than MinKeyBytes.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	kr := &Keyring{byID: make(map[string]*poolKey, len(keys))}
	for i, k := range keys {
		if err := checkKeyID(k.ID); err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if len(k.Secret) < MinKeyBytes {
			return nil, fmt.Errorf("key %q: %d bytes, need at least %d random bytes", k.ID, len(k.Secret), MinKeyBytes)
		}
		if _, dup := kr.byID[k.ID]; dup {
			return nil, fmt.Errorf("key id %q appears twice", k.ID)
		}
		secret := append([]byte(nil), k.Secret...)
		kr.keys = append(kr.keys, Key{ID: k.ID, Secret: secret})
		kr.byID[k.ID] = newPoolKey(k.ID, secret)
	}
	kr.signer = kr.byID[keys[0].ID]
	return kr, nil
}

// ParseKeys parses the IDENTITY_KEYS format: "kid:base64key,kid2:base64key2",
// each key standard padded base64 of at least MinKeyBytes bytes. Spaces
// around entries are ignored. Error messages never contain key material.
func ParseKeys(s string) (*Keyring, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New(`empty; want "kid:base64key[,kid:base64key...]"`)
	}
	var keys []Key
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf(`entry %d: want "kid:base64key"`, i+1)
		}
		secret, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("key %q: not standard padded base64", id)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return NewKeyring(keys...)
}

// SigningKeyID is the id of the key that signs.
func (kr *Keyring) SigningKeyID() string { return kr.keys[0].ID }

// IDs lists every key id, the signing one first.
func (kr *Keyring) IDs() []string {
	ids := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		ids[i] = k.ID
	}
	return ids
}

func (kr *Keyring) lookup(id string) (*poolKey, bool) {
	k, ok := kr.byID[id]
	return k, ok
}

// checkKeyID accepts 1–64 characters of [A-Za-z0-9._-]: nothing that could
// be confused with the header's own separators.
func checkKeyID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("key id must be 1-64 characters, got %d", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("key id %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}
