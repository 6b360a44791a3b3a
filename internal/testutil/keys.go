package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
)

// ECKey and RSAKey are one EC P-256 and one 2048-bit RSA key per test
// binary: generating RSA keys is slow, and the tests only need keys of the
// kinds Talkdesk accepts.
var (
	ECKey  = sync.OnceValue(func() *ecdsa.PrivateKey { return mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	RSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustKey(rsa.GenerateKey(rand.Reader, 2048)) })
)

func mustKey[K any](k K, err error) K {
	if err != nil {
		panic(err)
	}
	return k
}
