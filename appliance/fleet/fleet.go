// Package fleet joins flowsieve appliances into a fleet over NATS JetStream.
//
// A KV bucket (VerdictBucket) holds the fleet's verdicts, keyed by prefix:
// operator blocks, source and prefix verdicts members learned, and room for
// packet signatures. Every member watches the bucket and enforces what it sees
// through the same interface the daemon's block store serves
// (control.Backend's Block, Unblock and BlocksList), so its own allowlist
// always wins: a fleet block overlapping it is refused there and counted. An
// object store (ModelStore) holds models, versioned, with their SHA-256; a
// member with fleet.model: follow hot-swaps each new one and keeps the running
// model when one fails to load. Alerts go to a stream (AlertStream). A member
// that loses the server keeps enforcing what it has (the entries live in its
// XDP maps and state file), buffers what it publishes (bounded) and, when the
// server is back, sends the buffer and reconciles with the bucket.
//
// Per-key TTL in KV buckets needs nats-server 2.11; Debian ships 2.9, so a
// verdict's expiry travels in its value (Verdict.Expires), members drop and
// delete expired entries, and the bucket's max age (fleet.max_ttl) bounds
// everything.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowsieve/flowsieve/appliance/config"
)

// Names of the JetStream objects the fleet uses.
const (
	VerdictBucket = "flowsieve_verdicts"
	MemberBucket  = "flowsieve_members"
	ModelStore    = "flowsieve_models"
	AlertStream   = "FLOWSIEVE_ALERTS"
	// AlertSubject is the subject prefix of alerts: flowsieve.alerts.NAME.
	AlertSubject = "flowsieve.alerts"
)

// Sentinel errors.
var (
	// ErrAuth is returned when the server refuses the credentials.
	ErrAuth = errors.New("fleet: the NATS server refused the credentials")
	// ErrConnect is returned when no server could be reached.
	ErrConnect = errors.New("fleet: cannot reach the NATS server")
	// ErrTLS is returned when the TLS handshake with the server fails.
	ErrTLS = errors.New("fleet: TLS with the NATS server failed")
	// ErrOptions is returned for invalid Options.
	ErrOptions = errors.New("fleet: invalid options")
)

// Options say how to reach the fleet and who this member is.
type Options struct {
	// URL is one or more NATS URLs, comma-separated.
	URL string
	// Name is this appliance's name (empty: the host name).
	Name string
	// Credentials is a .creds file; NKeySeed a file holding an NKey seed.
	Credentials, NKeySeed string
	// CA, Cert and Key are PEM files for TLS.
	CA, Cert, Key string
	// DefaultTTL is the lifetime of a verdict published without one; MaxTTL
	// the longest, and the verdict bucket's max age.
	DefaultTTL, MaxTTL time.Duration
	// Buffer is the most operations a member keeps while disconnected.
	Buffer int
	// Timeout bounds connecting and each request (0: 2s).
	Timeout time.Duration
	// Logger receives the member's logs (nil: slog.Default()).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// OptionsFrom returns the options of a validated fleet configuration.
func OptionsFrom(c config.Fleet) Options {
	return Options{URL: c.URL, Name: c.Name, Credentials: c.Credentials, NKeySeed: c.NKeySeed,
		CA: c.TLS.CA, Cert: c.TLS.Cert, Key: c.TLS.Key,
		DefaultTTL: c.DefaultTTL, MaxTTL: c.MaxTTL, Buffer: c.Buffer}
}

// withDefaults fills unset fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		return o, fmt.Errorf("%w: no NATS URL (set fleet.url or --nats)", ErrOptions)
	}
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return o, fmt.Errorf("%w: no name and no host name: %w", ErrOptions, err)
		}
		o.Name = strings.NewReplacer(".", "-").Replace(h)
	}
	if err := config.CheckFleetName(o.Name); err != nil {
		return o, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	def := config.Default().Fleet
	if o.MaxTTL <= 0 {
		o.MaxTTL = def.MaxTTL
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = min(def.DefaultTTL, o.MaxTTL)
	}
	if o.Buffer <= 0 {
		o.Buffer = def.Buffer
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// natsOptions returns the connection options of o; extra come last.
func (o Options) natsOptions(extra ...nats.Option) ([]nats.Option, error) {
	opts := []nats.Option{nats.Name("flowsieve " + o.Name), nats.Timeout(o.Timeout)}
	if o.Credentials != "" {
		if _, err := os.Stat(o.Credentials); err != nil {
			return nil, fmt.Errorf("%w: credentials: %w", ErrOptions, err)
		}
		opts = append(opts, nats.UserCredentials(o.Credentials))
	}
	if o.NKeySeed != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("%w: nkey seed %s: %w", ErrOptions, o.NKeySeed, err)
		}
		opts = append(opts, opt)
	}
	if o.CA != "" {
		opts = append(opts, nats.RootCAs(o.CA))
	}
	if o.Cert != "" {
		opts = append(opts, nats.ClientCert(o.Cert, o.Key))
	}
	return append(opts, extra...), nil
}

// Client is a connection to the fleet's JetStream objects: what the fleet
// commands use, and what a Member holds while connected.
type Client struct {
	o      Options
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	member jetstream.KeyValue
	models jetstream.ObjectStore
}

// Connect connects to the server, creating the bucket, object store and stream
// when they do not exist. A refused credential is ErrAuth, an unreachable
// server ErrConnect, both naming the URL.
func Connect(ctx context.Context, o Options) (*Client, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return connect(ctx, o)
}

func connect(ctx context.Context, o Options, extra ...nats.Option) (*Client, error) {
	opts, err := o.natsOptions(extra...)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, connectError(o.URL, err)
	}
	c := &Client{o: o, nc: nc}
	if err := c.open(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func connectError(url string, err error) error {
	url = redact(url)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		strings.Contains(strings.ToLower(err.Error()), "authorization violation"):
		return fmt.Errorf("%w at %s (%v): check fleet.credentials, fleet.nkey_seed or the user:password in fleet.url", ErrAuth, url, err)
	case isTLSError(err):
		return fmt.Errorf("%w at %s (%v): check fleet.tls.ca, fleet.tls.cert and fleet.tls.key", ErrTLS, url, err)
	}
	return fmt.Errorf("%w at %s: %w", ErrConnect, url, err)
}

// isTLSError reports whether a connect error came from the TLS handshake
// (nats.go wraps those as "nats: tls error: ..." or passes crypto/tls's on).
func isTLSError(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "tls error") || strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:")
}

// redact replaces the passwords of the URLs in s with "xxxxx".
func redact(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := neturl.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = neturl.UserPassword(u.User.Username(), "xxxxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// open creates or binds the JetStream objects.
func (c *Client) open(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 4*c.o.Timeout)
	defer cancel()
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("fleet: jetstream: %w", err)
	}
	c.js = js
	wrap := func(what string, err error) error {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("fleet: %s: JetStream is not enabled on %s (start nats-server with -js): %w", what, c.nc.ConnectedUrlRedacted(), err)
		}
		return fmt.Errorf("fleet: %s: %w", what, err)
	}
	if c.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: VerdictBucket, Description: "flowsieve fleet verdicts (expiry in each value)",
		History: 1, TTL: c.o.MaxTTL, Storage: jetstream.FileStorage,
	}); err != nil {
		return wrap("verdict bucket", err)
	}
	if c.member, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: MemberBucket, Description: "flowsieve fleet members (heartbeats)",
		History: 1, TTL: memberTTL, Storage: jetstream.MemoryStorage,
	}); err != nil {
		return wrap("member bucket", err)
	}
	if c.models, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: ModelStore, Description: "flowsieve models (name vN, metadata sha256)", Storage: jetstream.FileStorage,
	}); err != nil {
		return wrap("model store", err)
	}
	if _, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: AlertStream, Description: "flowsieve alerts", Subjects: []string{AlertSubject + ".>"},
		MaxAge: 7 * 24 * time.Hour, MaxBytes: 64 << 20, Discard: jetstream.DiscardOld, Storage: jetstream.FileStorage,
	}); err != nil {
		return wrap("alert stream", err)
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.nc.Close()
	return nil
}

// Server returns the URL (credentials redacted) and version of the server.
func (c *Client) Server() (url, version string) {
	return c.nc.ConnectedUrlRedacted(), c.nc.ConnectedServerVersion()
}
