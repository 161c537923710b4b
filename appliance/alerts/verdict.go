package alerts

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// FromVerdict fills e from a verdict and reports whether it is an event to log:
// DROP gives a drop event (severity 1), ALERT and TAG an alert (severity 2), PASS a
// flow event (severity 3) only when flows is true. now is the time written
// (Unix ns). It does not allocate.
func FromVerdict(e *Event, v *inspect.Verdict, now int64, flows bool) bool {
	switch v.Decision.Action {
	case policy.ActionDrop:
		e.Type, e.Severity, e.Blocked = TypeDrop, 1, true
	case policy.ActionAlert, policy.ActionTag:
		e.Type, e.Severity, e.Blocked = TypeAlert, 2, false
	default:
		if !flows {
			return false
		}
		e.Type, e.Severity, e.Blocked = TypeFlow, 3, false
	}
	e.Time = now
	e.Src, e.Dst, e.SrcPort, e.DstPort, e.Proto = v.Src, v.Dst, v.SrcPort, v.DstPort, v.Proto
	e.Signature, e.Category = "", v.Label
	// The client is the flow's forward source (it sent the first packet).
	e.PktsToServer, e.PktsToClient, e.BytesToServer, e.BytesToClient = v.FwdPackets, v.BwdPackets, v.FwdBytes, v.BwdBytes
	e.Start = v.First
	e.Label, e.Probability, e.Score, e.Anomalous = v.Label, v.Prob, v.Score, v.Anomaly
	e.Action, e.Rule, e.Early = v.Decision.Action.String(), v.Decision.Rule, v.Early
	e.End = ""
	if v.Why != flow.Early {
		e.End = v.Why.String()
	}
	return true
}

// ReopenOnSIGHUP reopens the log each time the process gets SIGHUP (logrotate's
// postrotate), until the returned stop is called. Reopen errors go to onErr.
func (l *Log) ReopenOnSIGHUP(onErr func(error)) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
				if err := l.Reopen(); err != nil && onErr != nil {
					onErr(err)
				}
			case <-quit:
				return
			case <-l.done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(quit)
		})
	}
}
