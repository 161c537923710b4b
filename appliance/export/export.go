// Package export sends flow records as IPFIX (encoded by engine/ipfix) to a
// collector over UDP and to a file of IPFIX messages (RFC 5655 layout: the messages
// one after the other). An Exporter is synchronous, for commands such as
// `flowsieve flows --ipfix`; Queue puts a bounded queue and a sender goroutine in front
// of one, for the daemon, so a slow collector never holds up whoever produces records.
package export

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/flowsieve/flowsieve/engine/ipfix"
)

// DefaultRefresh is how often templates are resent over UDP (a collector that starts
// after the exporter learns them within this time).
const DefaultRefresh = 30 * time.Second

// ErrConfig reports an invalid exporter configuration.
var ErrConfig = errors.New("export: invalid configuration")

// Config says where an Exporter sends records.
type Config struct {
	// Addr is the collector, HOST:PORT, sent to over UDP ("" for none).
	Addr string
	// File is a file the messages are written to ("" for none; it is truncated).
	File string
	// Domain is the IPFIX Observation Domain ID.
	Domain uint32
	// Refresh is how often templates are resent over UDP (default DefaultRefresh).
	Refresh time.Duration
	// MaxMessage is the largest message in bytes (default ipfix.DefaultMaxMessage).
	MaxMessage int
}

// Exporter encodes records and writes each message to the collector and the file.
// It is not safe for concurrent use.
type Exporter struct {
	enc  *ipfix.Encoder
	conn *net.UDPConn
	file *os.File
	bw   *bufio.Writer
}

// New opens the UDP socket and the file of cfg. At least one is required.
func New(cfg Config) (*Exporter, error) {
	if cfg.Addr == "" && cfg.File == "" {
		return nil, fmt.Errorf("%w: neither a collector address nor a file", ErrConfig)
	}
	if cfg.Refresh < 0 {
		return nil, fmt.Errorf("%w: negative template refresh %v", ErrConfig, cfg.Refresh)
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultRefresh
	}
	x := &Exporter{}
	if cfg.Addr != "" {
		ua, err := net.ResolveUDPAddr("udp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("%w: collector %q: %v", ErrConfig, cfg.Addr, err)
		}
		if x.conn, err = net.DialUDP("udp", nil, ua); err != nil {
			return nil, fmt.Errorf("export: collector %s: %w", cfg.Addr, err)
		}
	}
	if cfg.File != "" {
		f, err := os.Create(cfg.File)
		if err != nil {
			x.Close()
			return nil, fmt.Errorf("export: %w", err)
		}
		x.file, x.bw = f, bufio.NewWriterSize(f, 256<<10)
	}
	enc, err := ipfix.NewEncoder(ipfix.Config{
		Domain: cfg.Domain, MaxMessage: cfg.MaxMessage, RefreshInterval: cfg.Refresh,
	}, x.write)
	if err != nil {
		x.Close()
		return nil, err
	}
	x.enc = enc
	return x, nil
}

// write sends one message to every destination.
func (x *Exporter) write(msg []byte) error {
	var errs []error
	if x.conn != nil {
		if _, err := x.conn.Write(msg); err != nil {
			errs = append(errs, fmt.Errorf("export: sending to %s: %w", x.conn.RemoteAddr(), err))
		}
	}
	if x.bw != nil {
		if _, err := x.bw.Write(msg); err != nil {
			errs = append(errs, fmt.Errorf("export: writing %s: %w", x.file.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Export adds one record; a message goes out when it is full.
func (x *Exporter) Export(r *ipfix.Record) error { return x.enc.Add(r) }

// Flush sends the records not yet sent.
func (x *Exporter) Flush() error {
	err := x.enc.Flush()
	if x.bw != nil {
		err = errors.Join(err, x.bw.Flush())
	}
	return err
}

// Records returns the number of records exported.
func (x *Exporter) Records() uint64 { return x.enc.Records() }

// Messages returns the number of messages sent.
func (x *Exporter) Messages() uint64 { return x.enc.Messages() }

// Close flushes and closes the socket and the file.
func (x *Exporter) Close() error {
	var err error
	if x.enc != nil {
		err = x.Flush()
	}
	if x.conn != nil {
		err = errors.Join(err, x.conn.Close())
	}
	if x.file != nil {
		err = errors.Join(err, x.file.Close())
	}
	return err
}
