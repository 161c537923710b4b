package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// Enforcer is the block store a member enforces fleet verdicts through: the
// daemon's control backend (pipeline.Control), control.BlockStore over pinned
// maps, or a control.Client talking to a running daemon. Its Block refuses a
// prefix overlapping the local allowlist (control.ErrAllowlisted), which is
// how the local allowlist wins over the fleet.
type Enforcer interface {
	Block(ctx context.Context, r control.BlockRequest) (control.BlockEntry, error)
	Unblock(ctx context.Context, prefix netip.Prefix) (bool, error)
	BlocksList(ctx context.Context) ([]control.BlockEntry, error)
}

// ModelLoader hot-swaps models: the daemon's control backend. ModelLoad must
// leave the running model in force when it fails.
type ModelLoader interface {
	ModelLoad(ctx context.Context, path string) (control.ModelInfo, error)
	ModelShow(ctx context.Context) (control.ModelInfo, error)
}

// Intervals of a member.
const (
	memberTTL       = 30 * time.Second // a member missing this long leaves fleet status
	heartbeatEvery  = 5 * time.Second
	sweepEvery      = time.Second
	minRetry        = 100 * time.Millisecond
	maxRetry        = time.Second
	errDisconnected = sentinel("disconnected from the server")
)

type sentinel string

func (s sentinel) Error() string { return string(s) }

// Status is a member's state, as `flowsieve status` and the heartbeat show it.
type Status struct {
	Name          string    `json:"name"`
	Connected     bool      `json:"connected"`
	Server        string    `json:"server,omitempty"`
	ServerVersion string    `json:"server_version,omitempty"`
	Since         time.Time `json:"since"` // when it last connected or disconnected
	Sessions      int       `json:"sessions"`
	LastSync      time.Time `json:"last_sync,omitzero"`
	// Enforced is how many fleet verdicts the member enforces now.
	Enforced int `json:"enforced"`
	// Applied counts verdicts enforced since start; Withdrawn those removed.
	Applied   uint64 `json:"applied"`
	Withdrawn uint64 `json:"withdrawn"`
	// Refused counts verdicts the local allowlist refused; LastRefused names the latest.
	Refused     uint64 `json:"refused"`
	LastRefused string `json:"last_refused,omitempty"`
	// Invalid counts bucket values that did not decode; Unsupported signature verdicts.
	Invalid     uint64 `json:"invalid"`
	Unsupported uint64 `json:"unsupported"`
	// Pending operations wait in the buffer for the server; Dropped fell off it.
	Pending   int    `json:"pending"`
	Dropped   uint64 `json:"dropped"`
	Model     Model  `json:"model"`
	LastError string `json:"last_error,omitempty"`
}

// Model is a member's model state.
type Model struct {
	Follow  bool      `json:"follow"`
	Version int       `json:"version,omitempty"` // fleet version in force (0: the local model)
	SHA256  string    `json:"sha256,omitempty"`
	Loaded  time.Time `json:"loaded,omitzero"`
	// Refused is the latest version that failed to load (the running model stayed).
	Refused      int    `json:"refused,omitempty"`
	RefusedError string `json:"refused_error,omitempty"`
}

// held is a fleet verdict the member enforces locally.
type held struct {
	v   Verdict
	rev uint64 // bucket revision (0: recovered from the local state)
}

// Member is one appliance in the fleet: it enforces the bucket's verdicts,
// follows the fleet's model when asked to, and publishes what it learns.
type Member struct {
	o        Options
	enf      Enforcer
	models   ModelLoader
	modelDir string
	out      outbox
	kick     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}

	mu   sync.Mutex
	held map[netip.Prefix]held
	own  map[netip.Prefix]bool // the operator's local blocks (not the fleet's)
	st   Status
}

// MemberConfig is what a member enforces through.
type MemberConfig struct {
	// Enforcer receives the fleet's blocks (required).
	Enforcer Enforcer
	// Models hot-swaps published models (fleet.model: follow); nil keeps the
	// local model (pinned).
	Models ModelLoader
	// ModelDir is where fetched models are written (required with Models).
	ModelDir string
}

// Join starts a member. It recovers the fleet verdicts the local block store
// already enforces (from before a restart) and connects in the background: a
// server that is down is retried until Close, enforcing what the store has
// meanwhile; a server that refuses the credentials (ErrAuth) or the TLS
// handshake (ErrTLS) is an error.
func Join(ctx context.Context, o Options, mc MemberConfig) (*Member, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if mc.Enforcer == nil || (mc.Models != nil && mc.ModelDir == "") {
		return nil, fmt.Errorf("%w: a member needs an enforcer, and a model dir to follow models", ErrOptions)
	}
	m := &Member{o: o, enf: mc.Enforcer, models: mc.Models, modelDir: mc.ModelDir,
		out: outbox{max: o.Buffer}, kick: make(chan struct{}, 1), done: make(chan struct{}),
		held: map[netip.Prefix]held{}, own: map[netip.Prefix]bool{}}
	m.st = Status{Name: o.Name, Since: o.Now(), Model: Model{Follow: mc.Models != nil}}
	if err := m.loadLocal(ctx); err != nil {
		return nil, err
	}
	closed := make(chan struct{})
	c, err := m.dial(ctx, closed)
	if errors.Is(err, ErrAuth) || errors.Is(err, ErrOptions) || errors.Is(err, ErrTLS) {
		return nil, err
	}
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go m.run(ctx, c, closed, err)
	return m, nil
}

// Close stops the member; what it enforces stays in the block store.
func (m *Member) Close() error {
	m.cancel()
	<-m.done
	return nil
}

// Name returns the member's name.
func (m *Member) Name() string { return m.o.Name }

// Status returns a snapshot of the member's state.
func (m *Member) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.Enforced = len(m.held)
	st.Pending, st.Dropped = m.out.stats()
	return st
}

// Publish sends a verdict this appliance learned (or an operator made) to the
// fleet. It never blocks: the verdict waits in the buffer until the server
// takes it. ttl 0 means Options.DefaultTTL. A prefix the fleet already blocks
// for more than half of ttl is not sent again (a flood's source is decided
// many times).
func (m *Member) Publish(scope Scope, p netip.Prefix, ttl time.Duration, reason, label string) error {
	v := newVerdict(m.o, scope, p, ttl, reason)
	v.Label = label
	if err := v.Validate(m.o.Now(), m.o.MaxTTL); err != nil {
		return err
	}
	m.mu.Lock()
	h, ok := m.held[p]
	m.mu.Unlock()
	if ok && h.v.Expires.After(v.Added.Add(v.Expires.Sub(v.Added)/2)) {
		return nil
	}
	m.out.push(op{put: &v})
	m.poke()
	return nil
}

// Alert publishes an alert event (any JSON value, e.g. an EVE record) to the
// alert stream under flowsieve.alerts.NAME, through the same buffer.
func (m *Member) Alert(event any) error {
	data, err := json.Marshal(event)
	if err != nil {
		return fmt.Errorf("fleet: alert: %w", err)
	}
	m.out.push(op{subject: AlertSubject + "." + m.o.Name, data: data})
	m.poke()
	return nil
}

// AlertJSON publishes one alert event already encoded as JSON (an EVE line
// from the daemon's writer) like Alert; line is copied.
func (m *Member) AlertJSON(line []byte) {
	m.out.push(op{subject: AlertSubject + "." + m.o.Name, data: append([]byte(nil), line...)})
	m.poke()
}

func (m *Member) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Member) setErr(err error) {
	m.mu.Lock()
	m.st.LastError = err.Error()
	m.mu.Unlock()
}

// dial connects without automatic reconnection: a lost connection ends the
// session (closed is closed) and run dials again, resynchronising from scratch.
func (m *Member) dial(ctx context.Context, closed chan struct{}) (*Client, error) {
	var once sync.Once
	return connect(ctx, m.o, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { once.Do(func() { close(closed) }) }))
}

func (m *Member) run(ctx context.Context, c *Client, closed chan struct{}, err error) {
	defer close(m.done)
	retry := minRetry
	for {
		if err == nil {
			retry = minRetry
			m.connected(c)
			err = m.session(ctx, c, closed)
			c.Close()
			m.disconnected(err)
		} else {
			m.setErr(err)
			m.o.Logger.Debug("fleet: connect failed", "err", err)
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, maxRetry)
		closed = make(chan struct{})
		c, err = m.dial(ctx, closed)
	}
}

func (m *Member) connected(c *Client) {
	url, ver := c.Server()
	m.mu.Lock()
	m.st.Connected, m.st.Server, m.st.ServerVersion, m.st.Since = true, url, ver, m.o.Now()
	m.st.Sessions++
	m.mu.Unlock()
	m.o.Logger.Info("fleet: connected", "server", url, "version", ver)
}

func (m *Member) disconnected(err error) {
	m.mu.Lock()
	m.st.Connected, m.st.Since = false, m.o.Now()
	if err != nil && !errors.Is(err, context.Canceled) {
		m.st.LastError = err.Error()
	}
	m.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		return
	}
	m.o.Logger.Warn("fleet: lost the server, enforcing what it has and buffering", "err", err)
}

// session follows the bucket (and the model store) until the connection is
// lost or ctx ends.
func (m *Member) session(ctx context.Context, c *Client, closed <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("fleet: watch verdicts: %w", err)
	}
	defer w.Stop()
	var modelUpdates <-chan *jetstream.ObjectInfo
	if m.models != nil {
		mw, err := c.models.Watch(ctx)
		if err != nil {
			return fmt.Errorf("fleet: watch models: %w", err)
		}
		defer mw.Stop()
		modelUpdates = mw.Updates()
	}
	seen := map[netip.Prefix]bool{} // nil once the initial values are in
	var latest *ModelInfo
	modelsInitial := true
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	lastBeat := time.Time{}
	m.flush(ctx, c)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return errDisconnected
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("fleet: verdict watch ended")
			}
			if e == nil {
				m.reconcile(ctx, seen)
				seen = nil
				continue
			}
			m.apply(ctx, c, e, seen)
		case oi, ok := <-modelUpdates:
			if !ok {
				return errors.New("fleet: model watch ended")
			}
			if oi == nil {
				modelsInitial = false
			} else if mi, ok := modelInfoOf(oi); ok && (latest == nil || mi.Version > latest.Version) {
				latest = &mi
			}
			if !modelsInitial && latest != nil {
				m.follow(ctx, c, *latest)
			}
		case <-m.kick:
			m.flush(ctx, c)
		case now := <-tick.C:
			m.sweep(ctx, c)
			m.flush(ctx, c)
			if now.Sub(lastBeat) >= heartbeatEvery {
				lastBeat = now
				m.heartbeat(ctx, c)
			}
		}
	}
}

// flushBatch is the most operations one flush sends before the session goes
// back to the bucket's updates (a burst of alerts must not delay enforcement).
const flushBatch = 256

// flush sends up to flushBatch buffered operations in order (and pokes itself
// when more wait); it stops at the first failure and keeps that operation for
// the next try.
func (m *Member) flush(ctx context.Context, c *Client) {
	for i := 0; ; i++ {
		if i == flushBatch {
			m.poke()
			return
		}
		o, ok := m.out.take()
		if !ok {
			return
		}
		var err error
		if o.put != nil {
			_, err = c.Put(ctx, *o.put)
			if errors.Is(err, ErrVerdict) { // expired while buffered: nothing to send
				continue
			}
		} else {
			rctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
			_, err = c.js.Publish(rctx, o.subject, o.data)
			cancel()
		}
		if err != nil {
			m.out.putBack(o)
			m.setErr(err)
			return
		}
	}
}

// heartbeat records the member's status in the member bucket.
func (m *Member) heartbeat(ctx context.Context, c *Client) {
	data, err := json.Marshal(m.Status())
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
	defer cancel()
	if _, err := c.member.Put(ctx, m.o.Name, data); err != nil {
		m.setErr(fmt.Errorf("fleet: heartbeat: %w", err))
	}
}

// fleetReason is the local reason of a fleet verdict.
func fleetReason(v Verdict) string {
	r := ReasonPrefix + " " + v.Origin + " " + string(v.Scope)
	if v.Label != "" {
		r += " " + v.Label
	}
	if v.Reason != "" {
		r += ": " + v.Reason
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return ' '
		}
		return c
	}, r)
}
