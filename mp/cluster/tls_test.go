package cluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/mpgo/mp/mp/cluster"
	"github.com/mpgo/mp/mp/cluster/embedded"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A server with TLS, its certificate made by the test: a client that does
// not trust it is refused; one that does gets its tasks done.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := startServer(t, embedded.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})

	_, err := cluster.Connect(s.URL(), time.Second)
	require.ErrorIs(t, err, cluster.ErrConnect, "no TLS configuration")
	_, err = cluster.Connect(s.URL(), time.Second, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	require.ErrorIs(t, err, cluster.ErrConnect, "the certificate is not trusted")
	assert.Contains(t, err.Error(), "certificate")

	nc, err := cluster.Connect(s.URL(), 2*time.Second, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	assert.True(t, nc.TLSRequired())
	startHost(t, nc, testConfig, 1)
	c := newClient(t, nc, testConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := cluster.Call(ctx, c, square, Job{N: 8})
	require.NoError(t, err)
	assert.Equal(t, 64, r.Square)
}

// selfSigned makes a certificate for 127.0.0.1, valid for an hour, and a
// pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mp-cluster-test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	parsed, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, pool
}
