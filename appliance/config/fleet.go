package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Values of fleet.model.
const (
	FleetModelFollow = "follow" // hot-swap every model published to the fleet
	FleetModelPinned = "pinned" // keep model.path; published models are ignored
)

// Fleet configures membership of a fleet of appliances that share verdicts,
// models and alerts over NATS JetStream (appliance/fleet).
type Fleet struct {
	URL         string        `yaml:"url" help:"NATS server URLs, comma-separated (nats://host:4222, tls://host:4222; user:password@ in the URL is accepted); empty: this appliance is not in a fleet."`
	Name        string        `yaml:"name" help:"Name of this appliance in the fleet (letters, digits, - and _, at most 64); empty uses the host name."`
	Credentials string        `yaml:"credentials" kind:"path" help:"NATS credentials file (.creds: user JWT and NKey seed); exclusive with nkey_seed."`
	NKeySeed    string        `yaml:"nkey_seed" kind:"path" help:"File holding an NKey user seed (SU...); exclusive with credentials."`
	TLS         FleetTLS      `yaml:"tls"`
	Model       string        `yaml:"model" help:"follow: hot-swap every model published to the fleet (a model that fails to load is refused and the running one kept); pinned: keep model.path."`
	DefaultTTL  time.Duration `yaml:"default_ttl" help:"Lifetime of a fleet verdict published without a TTL."`
	MaxTTL      time.Duration `yaml:"max_ttl" help:"Longest lifetime of a fleet verdict; also the verdict bucket's max age, which removes entries on servers without per-key TTL (nats-server < 2.11)."`
	Buffer      int           `yaml:"buffer" help:"Most verdicts and alerts kept while the server is unreachable; they are sent when it is back (the oldest are dropped beyond it)."`
}

// FleetTLS configures TLS to the NATS server.
type FleetTLS struct {
	CA   string `yaml:"ca" kind:"path" help:"PEM file of the CA that signed the NATS server's certificate; empty uses the system roots."`
	Cert string `yaml:"cert" kind:"path" help:"PEM client certificate for mutual TLS; requires fleet.tls.key."`
	Key  string `yaml:"key" kind:"path" help:"PEM private key of fleet.tls.cert."`
}

// Limits of the fleet keys.
const (
	maxFleetName   = 64
	maxFleetBuffer = 1 << 20
)

// Enabled reports whether the appliance is in a fleet (fleet.url is set).
func (f Fleet) Enabled() bool { return f.URL != "" }

func (c *Config) validateFleet() []error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.keyError(key, fmt.Errorf(format, args...)))
	}
	f := c.Fleet
	for _, u := range strings.Split(f.URL, ",") {
		if f.URL == "" {
			break
		}
		if err := checkNATSURL(strings.TrimSpace(u)); err != nil {
			errs = append(errs, c.keyError("fleet.url", err))
		}
	}
	if err := CheckFleetName(f.Name); err != nil {
		errs = append(errs, c.keyError("fleet.name", err))
	}
	if f.Credentials != "" && f.NKeySeed != "" {
		bad("fleet.nkey_seed", "exclusive with fleet.credentials (%s): set one", f.Credentials)
	}
	if (f.TLS.Cert == "") != (f.TLS.Key == "") {
		bad("fleet.tls.cert", "fleet.tls.cert and fleet.tls.key go together (cert %q, key %q)", f.TLS.Cert, f.TLS.Key)
	}
	if f.Model != FleetModelFollow && f.Model != FleetModelPinned {
		bad("fleet.model", "must be one of follow, pinned, got %q", f.Model)
	}
	if f.MaxTTL <= 0 {
		bad("fleet.max_ttl", "must be > 0, got %q", c.raw("fleet.max_ttl"))
	}
	if f.DefaultTTL <= 0 || (f.MaxTTL > 0 && f.DefaultTTL > f.MaxTTL) {
		bad("fleet.default_ttl", "must be > 0 and at most fleet.max_ttl (%v), got %q", f.MaxTTL, c.raw("fleet.default_ttl"))
	}
	if f.Buffer < 1 || f.Buffer > maxFleetBuffer {
		bad("fleet.buffer", "must be between 1 and %d, got %d", maxFleetBuffer, f.Buffer)
	}
	return errs
}

// CheckFleetName checks an appliance name: empty (the host name is used) or
// letters, digits, - and _, at most 64 bytes (it is a NATS subject token).
func CheckFleetName(n string) error {
	if len(n) > maxFleetName {
		return fmt.Errorf("name %q is longer than %d bytes", n, maxFleetName)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("name %q may hold only letters, digits, - and _", n)
		}
	}
	return nil
}

func checkNATSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid NATS URL %q (want e.g. nats://127.0.0.1:4222)", s)
	}
	switch u.Scheme {
	case "nats", "tls":
	default:
		return fmt.Errorf("NATS URL %q: scheme must be nats or tls, got %q", s, u.Scheme)
	}
	if u.Port() == "" {
		return errors.New("NATS URL " + s + ": no port (the default is 4222)")
	}
	return nil
}
