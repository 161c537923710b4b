package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/engine/inspect"
)

// Limits on values, chosen to catch typos rather than to constrain real deployments.
const (
	maxQueues      = 1024
	maxCPU         = 4095
	maxCapacity    = 1 << 30
	maxBatch       = 8192
	maxWriterBatch = 1 << 16
	maxFlush       = 10 * time.Second
	maxEarly       = 1 << 16
	maxClassWait   = 10 * time.Millisecond
)

// validateClassify checks classify.batch: a worker's inspector holds classify.batch
// rows plus one receive batch (batch_size) of flows waiting for classification, and
// each waiting flow keeps its row in its pending mark, so the two together must stay
// within inspect.MaxBatchSize (classify.batch 1 classifies at once and holds none).
func (c *Config) validateClassify(bad func(key, format string, args ...any)) {
	switch {
	case c.Classify.Batch < 1 || c.Classify.Batch > inspect.MaxBatchSize:
		bad("classify.batch", "must be between 1 and %d, got %d", inspect.MaxBatchSize, c.Classify.Batch)
	case c.Classify.Batch > 1 && c.BatchSize >= 1 && c.BatchSize <= maxBatch && c.Classify.Batch+c.BatchSize > inspect.MaxBatchSize:
		bad("classify.batch", "with batch_size %d must be at most %d (a worker holds classify.batch + batch_size flows pending, at most %d), got %d",
			c.BatchSize, inspect.MaxBatchSize-c.BatchSize, inspect.MaxBatchSize, c.Classify.Batch)
	}
}

// validate checks every key and returns one *KeyError per problem.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, c.keyError(key, fmt.Errorf(format, args...)))
	}
	oneOf := func(key, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			bad(key, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
		}
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be > 0, got %q", c.raw(key))
		}
	}

	oneOf("mode", c.Mode, "inline", "monitor")
	for _, k := range []struct{ key, name string }{{"interfaces.in", c.Interfaces.In}, {"interfaces.out", c.Interfaces.Out}, {"interfaces.monitor", c.Interfaces.Monitor}} {
		if err := checkIfName(k.name); err != nil {
			errs = append(errs, c.keyError(k.key, err))
		}
	}
	switch c.Mode {
	case "inline":
		if c.Interfaces.Monitor != "" {
			bad("interfaces.monitor", "only valid in monitor mode (mode is inline)")
		}
		if c.Interfaces.In != "" && c.Interfaces.In == c.Interfaces.Out {
			bad("interfaces.out", "must differ from interfaces.in, both are %q", c.Interfaces.In)
		}
	case "monitor":
		for _, k := range []struct{ key, name string }{{"interfaces.in", c.Interfaces.In}, {"interfaces.out", c.Interfaces.Out}} {
			if k.name != "" {
				bad(k.key, "only valid in inline mode (mode is monitor); use interfaces.monitor")
			}
		}
	}
	if c.Queues < 0 || c.Queues > maxQueues {
		bad("queues", "must be between 0 and %d, got %d", maxQueues, c.Queues)
	}
	if c.WorkerNice < -20 || c.WorkerNice > 19 {
		bad("worker_nice", "must be between -20 and 19, got %d", c.WorkerNice)
	}
	for i, cpu := range c.CPUs {
		if cpu < 0 || cpu > maxCPU {
			bad("cpus", "CPU %d out of range 0-%d", cpu, maxCPU)
		} else if slices.Contains(c.CPUs[:i], cpu) {
			bad("cpus", "CPU %d listed twice", cpu)
		}
	}
	oneOf("xdp.mode", c.XDP.Mode, "native", "generic", "auto")
	oneOf("xdp.stamp", c.XDP.Stamp, "auto", "metadata", "frame_head", "none")
	if !filepath.IsAbs(c.XDP.PinDir) {
		bad("xdp.pin_dir", "must be an absolute path on a bpf file system, got %q", c.XDP.PinDir)
	}
	if c.Flow.Capacity < 1 || c.Flow.Capacity > maxCapacity {
		bad("flow.capacity", "must be between 1 and %d, got %d", maxCapacity, c.Flow.Capacity)
	}
	positive("flow.idle_timeout", c.Flow.IdleTimeout)
	positive("flow.active_timeout", c.Flow.ActiveTimeout)
	if c.Flow.IdleTimeout > 0 && c.Flow.ActiveTimeout > 0 && c.Flow.ActiveTimeout < c.Flow.IdleTimeout {
		bad("flow.active_timeout", "must be >= flow.idle_timeout (%v), got %v", c.Flow.IdleTimeout, c.Flow.ActiveTimeout)
	}
	if c.Flow.EarlyPackets < 0 || c.Flow.EarlyPackets > maxEarly {
		bad("flow.early_packets", "must be between 0 and %d, got %d", maxEarly, c.Flow.EarlyPackets)
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatch {
		bad("batch_size", "must be between 1 and %d, got %d", maxBatch, c.BatchSize)
	}
	c.validateClassify(bad)
	if c.Classify.MaxDelay < 0 || c.Classify.MaxDelay > maxClassWait {
		bad("classify.max_delay", "must be between 0 and %v, got %q", maxClassWait, c.raw("classify.max_delay"))
	}
	if c.StateDir == "" {
		bad("state_dir", "must not be empty")
	}
	positive("verdicts.default_ttl", c.Verdicts.DefaultTTL)
	if c.Verdicts.WriterBatch < 1 || c.Verdicts.WriterBatch > maxWriterBatch {
		bad("verdicts.writer_batch", "must be between 1 and %d, got %d", maxWriterBatch, c.Verdicts.WriterBatch)
	}
	positive("verdicts.flush_interval", c.Verdicts.FlushInterval)
	if c.Verdicts.FlushInterval > maxFlush {
		bad("verdicts.flush_interval", "must be at most %v, got %q", maxFlush, c.raw("verdicts.flush_interval"))
	}
	if c.Metrics.Listen != "" {
		if _, err := checkHostPort(c.Metrics.Listen); err != nil {
			errs = append(errs, c.keyError("metrics.listen", err))
		}
	}
	if c.Metrics.Pprof {
		if host, err := checkHostPort(c.Metrics.Listen); err != nil || !isLoopback(host) {
			bad("metrics.pprof", "needs metrics.listen on a loopback address (profiles expose the process), got %q", c.Metrics.Listen)
		}
	}
	if c.Control.Socket == "" {
		bad("control.socket", "must not be empty")
	}
	if c.Control.SocketMode&0o002 != 0 {
		bad("control.socket_mode", "must not be writable by others, got %04o", uint32(c.Control.SocketMode))
	}
	if c.Control.SocketMode&0o777 == 0 {
		bad("control.socket_mode", "must give the owner access, got %04o", uint32(c.Control.SocketMode))
	}
	if t := c.Control.TCP; t.Listen != "" {
		host, err := checkHostPort(t.Listen)
		switch {
		case err != nil:
			errs = append(errs, c.keyError("control.tcp.listen", err))
		case !t.AllowRemote && !isLoopback(host):
			bad("control.tcp.listen", "%q is not a loopback address; set control.tcp.allow_remote: true to listen on it", t.Listen)
		}
		if t.TokenFile == "" {
			bad("control.tcp.token_file", "required when control.tcp.listen is set: TCP clients must present a token")
		}
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "text", "json")
	errs = append(errs, c.validateOutputs()...)
	errs = append(errs, c.validateMitigation()...)
	return append(errs, c.validateFleet()...)
}

// RequireInterfaces checks that the interfaces the mode needs are set; `flowsieve run`
// calls it, while commands that only need the control socket do not.
func (c *Config) RequireInterfaces() error {
	var errs []error
	need := func(key, v, why string) {
		if v == "" {
			errs = append(errs, c.keyError(key, errors.New(why)))
		}
	}
	if c.Mode == "monitor" {
		need("interfaces.monitor", c.Interfaces.Monitor, "required in monitor mode (flag --monitor)")
	} else {
		need("interfaces.in", c.Interfaces.In, "required in inline mode (flag --in)")
		need("interfaces.out", c.Interfaces.Out, "required in inline mode (flag --out)")
	}
	return errors.Join(errs...)
}

// keyError wraps err with the key and where its value came from.
func (c *Config) keyError(key string, err error) *KeyError {
	o := c.origins[key]
	return &KeyError{Key: key, Where: o.where, Err: err}
}

// raw returns the key's value as it was written, or formatted from the default.
func (c *Config) raw(key string) string {
	if o, ok := c.origins[key]; ok {
		return o.raw
	}
	v, _ := c.Get(key)
	return v
}

func checkIfName(n string) error {
	if n == "" {
		return nil
	}
	if len(n) > 15 {
		return fmt.Errorf("interface name %q is longer than 15 bytes", n)
	}
	if n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n") {
		return fmt.Errorf("invalid interface name %q", n)
	}
	return nil
}

func checkHostPort(s string) (host string, err error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("invalid address %q (want host:port, e.g. 127.0.0.1:9743)", s)
	}
	var p uint16
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || fmt.Sprint(p) != port {
		return "", fmt.Errorf("invalid port %q in %q", port, s)
	}
	return host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
