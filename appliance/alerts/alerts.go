// Package alerts writes the daemon's verdicts as JSON lines in Suricata's EVE style
// (see docs/eve.md) to a file, rotated by size and reopened on request (SIGHUP, after
// logrotate moved it), and optionally to a unix stream socket.
//
// Emit never blocks: events go through a bounded channel to the log's own goroutine,
// which formats and writes them; when the channel is full the event is dropped and
// counted. The daemon calls Emit from the verdict writer's goroutine, never from a
// packet worker, so the log costs the packet path nothing.
package alerts

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxBytes = 100 << 20
	DefaultKeep     = 5
	DefaultQueue    = 4096
)

// ErrConfig reports an invalid alert log configuration.
var ErrConfig = errors.New("alerts: invalid configuration")

// Config configures a Log.
type Config struct {
	// File is the EVE log's path ("" for none).
	File string
	// MaxBytes rotates the file once it holds this many bytes: File becomes File.1,
	// File.1 becomes File.2, and so on up to Keep (default DefaultMaxBytes).
	MaxBytes int64
	// Keep is how many rotated files are kept; 0 keeps none (the full file is
	// removed). The daemon's alerts.keep defaults to DefaultKeep.
	Keep int
	// Socket is a unix stream socket a consumer listens on; the log connects to it
	// and writes the same lines ("" for none). While it is not connected, lines for
	// it are dropped (counted) and a reconnect is tried at most once a second.
	Socket string
	// Queue is the number of events waiting to be written before Emit drops
	// (default DefaultQueue).
	Queue int
}

// Type is an event's event_type.
type Type uint8

// Event types.
const (
	TypeAlert Type = iota // a verdict to alert on (ALERT, TAG): traffic allowed
	TypeDrop              // a DROP verdict: the flow's traffic is blocked
	TypeFlow              // a flow record (PASS verdicts, when flows are logged)
)

var typeNames = [...]string{"alert", "drop", "flow"}

// String returns the event_type value.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Event is one line of the log. Strings should be long-lived (a model's interned
// labels, a policy's rule names): Emit copies the Event, not what it points to.
type Event struct {
	Time             int64 // Unix ns
	Type             Type
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8

	Signature string // what matched: "flowsieve ML <label>"
	Category  string // the label
	Severity  uint8  // 1 (highest) to 3
	Blocked   bool   // alert.action "blocked" (DROP) or "allowed"

	// Flow counters as of the verdict (the flow's first N packets for a verdict at
	// the early decision point): to the server is the forward direction, bytes are
	// wire bytes.
	PktsToServer, PktsToClient   uint64
	BytesToServer, BytesToClient uint64
	Start                        int64 // the flow's first packet, Unix ns

	// What flowsieve adds under "flowsieve".
	Label       string
	Probability float32
	Score       float32
	Anomalous   bool
	Action      string // the policy's action: PASS, DROP, TAG, ALERT
	Rule        string // the policy rule that decided
	Early       bool   // decided at the early decision point
	End         string // how the flow ended ("" when still live)
}

// Stats counts what a Log did.
type Stats struct {
	Emitted  uint64 // events queued by Emit
	Dropped  uint64 // events Emit dropped on a full queue
	Written  uint64 // lines written to the file
	Sent     uint64 // lines written to the socket
	Unsent   uint64 // lines not sent: socket not connected or failed
	Rotated  uint64 // file rotations
	Reopened uint64 // reopens (Reopen)
	Errors   uint64 // write, rotate and reopen errors
}

// Log is an EVE-style alert log. Emit and Reopen may be called from any goroutine.
type Log struct {
	cfg    Config
	ch     chan Event
	reopen chan chan error
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the goroutine has written everything
	once   sync.Once

	// owned by the log's goroutine
	file     *os.File
	bw       *bufio.Writer
	size     int64
	conn     net.Conn
	lastDial time.Time
	buf      []byte

	emitted, dropped, written, sent, unsent, rotated, reopened, errs atomic.Uint64
}

// Open validates cfg, opens the file (appending) and the socket, and starts the
// log's goroutine. A socket that cannot be reached yet is retried while running.
func Open(cfg Config) (*Log, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultQueue
	}
	l := &Log{cfg: cfg, ch: make(chan Event, cfg.Queue), reopen: make(chan chan error),
		done: make(chan struct{}), exited: make(chan struct{})}
	if cfg.File != "" {
		if err := l.openFile(); err != nil {
			return nil, err
		}
	}
	if cfg.Socket != "" {
		l.dial()
	}
	go l.run()
	return l, nil
}

// check validates a configuration.
func (c *Config) check() error {
	switch {
	case c.File == "" && c.Socket == "":
		return fmt.Errorf("%w: neither a file nor a socket", ErrConfig)
	case c.MaxBytes < 0:
		return fmt.Errorf("%w: max bytes %d is negative", ErrConfig, c.MaxBytes)
	case c.MaxBytes > 0 && c.MaxBytes < 4096:
		return fmt.Errorf("%w: max bytes %d is under 4096 (one line may be longer)", ErrConfig, c.MaxBytes)
	case c.Keep < 0 || c.Keep > 1000:
		return fmt.Errorf("%w: keep %d is not in 0..1000", ErrConfig, c.Keep)
	case c.Queue < 0 || c.Queue > 1<<20:
		return fmt.Errorf("%w: queue %d is not in 0..%d", ErrConfig, c.Queue, 1<<20)
	}
	if c.File != "" {
		if st, err := os.Stat(filepath.Dir(c.File)); err != nil || !st.IsDir() {
			return fmt.Errorf("%w: file %s: folder %s does not exist", ErrConfig, c.File, filepath.Dir(c.File))
		}
	}
	return nil
}

// Emit queues e to be written and reports whether there was room; it never blocks.
// After Close it drops.
func (l *Log) Emit(e *Event) bool {
	select {
	case <-l.done:
		l.dropped.Add(1)
		return false
	default:
	}
	select {
	case l.ch <- *e:
		l.emitted.Add(1)
		return true
	default:
		l.dropped.Add(1)
		return false
	}
}

// Reopen closes and reopens the file by its path (after logrotate moved it) and
// reconnects the socket, once the events queued before it are written.
func (l *Log) Reopen() error {
	r := make(chan error, 1)
	select {
	case l.reopen <- r:
		return <-r
	case <-l.done:
		return errors.New("alerts: log closed")
	}
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{
		Emitted: l.emitted.Load(), Dropped: l.dropped.Load(), Written: l.written.Load(),
		Sent: l.sent.Load(), Unsent: l.unsent.Load(), Rotated: l.rotated.Load(),
		Reopened: l.reopened.Load(), Errors: l.errs.Load(),
	}
}

// Close writes what is queued, closes the file and the socket and stops the goroutine.
func (l *Log) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		<-l.exited
		err = l.closeOutputs()
	})
	return err
}
