package fleet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/appliance/fleet/natstest"
)

// testCA makes a CA and certificates it signs, as PEM files in dir.
type testCA struct {
	dir  string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	path string // the CA certificate's file
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca := &testCA{dir: t.TempDir()}
	ca.key = newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowsieve test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ca.key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	ca.path = writePEM(t, ca.dir, "ca.pem", "CERTIFICATE", der)
	return ca
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue returns the files of a certificate for name (server: for 127.0.0.1).
func (ca *testCA) issue(t *testing.T, name string, serial int64, server bool) (certFile, keyFile string) {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, ca.dir, name+".pem", "CERTIFICATE", der), writePEM(t, ca.dir, name+".key", "EC PRIVATE KEY", kd)
}

// TestFleetMutualTLS: a server requiring TLS and client certificates takes a
// member with fleet.tls.ca/cert/key, and refuses one without a certificate
// and one that does not trust the server's CA.
func TestFleetMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, "server", 2, true)
	cliCert, cliKey := ca.issue(t, "member", 3, false)
	srv := natstest.Start(t, natstest.Options{TLSCert: srvCert, TLSKey: srvKey, TLSClientCA: ca.path})
	url := strings.Replace(srv.URL(), "nats://", "tls://", 1)

	o := testOptions(url, "a")
	o.CA, o.Cert, o.Key = ca.path, cliCert, cliKey
	a := joinWithOptions(t, o)
	waitFor(t, 5*time.Second, "a connected over mutual TLS", func() bool { return a.Status().Connected })

	noCert := o
	noCert.Cert, noCert.Key = "", ""
	if _, err := Connect(context.Background(), noCert); !errors.Is(err, ErrTLS) {
		t.Fatalf("a client without a certificate: %v, want ErrTLS", err)
	}
	other := newTestCA(t)
	untrusted := o
	untrusted.CA = other.path
	_, err := Connect(context.Background(), untrusted)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), "fleet.tls.ca") {
		t.Fatalf("a client not trusting the server's CA: %v, want ErrTLS naming the cause and the keys", err)
	}
}

func joinWithOptions(t *testing.T, o Options) *Member {
	t.Helper()
	m, err := Join(context.Background(), o, MemberConfig{Enforcer: newStore(t, t.TempDir(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
