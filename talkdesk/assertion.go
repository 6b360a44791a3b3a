package talkdesk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AssertionType is the client_assertion_type of a JWT client assertion
// (RFC 7523, OAuth private_key_jwt).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long one client assertion is valid: Talkdesk
// documents exp = iat + 300 seconds. Each token request signs a new one.
const AssertionLifetime = 5 * time.Minute

// assertionSigner signs client assertions with the client's private key.
type assertionSigner struct {
	method jwt.SigningMethod
	key    crypto.Signer
	keyID  string
}

func newAssertionSigner(key crypto.Signer, keyID string) (*assertionSigner, error) {
	if keyID == "" {
		return nil, errors.New("talkdesk: a private key needs its key id")
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("talkdesk: EC key on curve %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		return &assertionSigner{method: jwt.SigningMethodES256, key: k, keyID: keyID}, nil
	case *rsa.PrivateKey:
		return &assertionSigner{method: jwt.SigningMethodRS256, key: k, keyID: keyID}, nil
	}
	return nil, fmt.Errorf("talkdesk: a %T key cannot sign ES256 or RS256", key)
}

// Algorithm is the JWS algorithm of the assertions: ES256 or RS256.
func (s *assertionSigner) Algorithm() string { return s.method.Alg() }

// sign returns a new assertion: issued by and about the client, for the
// token endpoint, with a unique id.
func (s *assertionSigner) sign(clientID, tokenURL string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	tok := jwt.NewWithClaims(s.method, jwt.MapClaims{
		"iss": clientID,
		"sub": clientID,
		// One string, as Talkdesk documents it, rather than a list.
		"aud": tokenURL,
		"jti": hex.EncodeToString(jti),
		"iat": now.Unix(),
		"exp": now.Add(AssertionLifetime).Unix(),
	})
	tok.Header["kid"] = s.keyID
	signed, err := tok.SignedString(s.key)
	if err != nil {
		// jwt's errors name the method or the key type, never the key.
		return "", fmt.Errorf("sign client assertion with %s: %w", s.method.Alg(), err)
	}
	return signed, nil
}

// assertionParts are the pieces of an assertion that no output may show:
// the whole, and its signature alone.
func assertionParts(assertion string) []string {
	if assertion == "" {
		return nil
	}
	out := []string{assertion}
	if i := strings.LastIndexByte(assertion, '.'); i >= 0 && i+1 < len(assertion) {
		out = append(out, assertion[i+1:])
	}
	return out
}

// AuthMethod says how the client authenticates to the token endpoint:
// "client_secret_basic", or "private_key_jwt (ES256)" or
// "private_key_jwt (RS256)".
func (c *Client) AuthMethod() string {
	if c.signer != nil {
		return "private_key_jwt (" + c.signer.Algorithm() + ")"
	}
	return "client_secret_basic"
}

// UsesKey reports whether the client signs assertions with a private key
// instead of sending a client secret.
func (c *Client) UsesKey() bool { return c.signer != nil }
