package harness

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/flowsieve/flowsieve/xdp"
	"github.com/flowsieve/flowsieve/xdp/afxdp/l2fwd"
	"github.com/flowsieve/flowsieve/xdp/baseline"
	"github.com/flowsieve/flowsieve/xdp/sender"
)

// fwdWire is the appliance's one-queue wire with a bare forwarder in the
// appliance's place and the bare XDP_DROP counting what reaches the receiver, as on
// the daemon's wire: the forwarding baselines run on the same topology as the path.
type fwdWire struct {
	w    *Wire
	recv *baseline.Drop
	undo []func() error // closers of what sits in the appliance namespace, last first
}

func openFwdWire() (_ *fwdWire, err error) {
	w, err := NewWire(1)
	if err != nil {
		return nil, err
	}
	f := &fwdWire{w: w}
	if err = w.Receiver.Do(func() (err error) { f.recv, err = baseline.AttachDrop(RecvIf); return err }); err != nil {
		return nil, errors.Join(fmt.Errorf("harness: forwarding baseline receiver: %w", err), w.Close())
	}
	return f, nil
}

func (f *fwdWire) close() error {
	var errs []error
	for i := len(f.undo) - 1; i >= 0; i-- {
		errs = append(errs, f.undo[i]())
	}
	return errors.Join(append(errs, f.recv.Close(), f.w.Close())...)
}

// refForward is the reference AF_XDP forwarder's wire: flowsieve's XDP program on
// both appliance interfaces with no verdict (every frame to the socket of its
// queue, as for a new flow through the daemon), l2fwd behind it.
type refForward struct {
	*fwdWire
	dp    *xdp.Datapath
	strip int
}

func openRefForward() (_ *refForward, err error) {
	fw, err := openFwdWire()
	if err != nil {
		return nil, err
	}
	r := &refForward{fwdWire: fw}
	if err = fw.w.Appliance.Do(func() (err error) {
		r.dp, err = xdp.Open(xdp.Options{Interfaces: []string{AppIn, AppOut}, Mode: xdp.ModeNative, Queues: 1, Logger: quietLogger()})
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("harness: reference forwarder's XDP program: %w", err), fw.close())
	}
	fw.undo = append(fw.undo, r.dp.Close)
	if r.dp.Stamp() == xdp.StampHead {
		r.strip = xdp.ArrivalMetaSize
	}
	return r, nil
}

// fwdRun is one timed run of new flows through a forwarder.
type fwdRun struct {
	PPS       float64 // delivered frames per second of sending
	Sent      uint64
	Delivered uint64
	RxDropped uint64 // frames lost at the forwarder's receive socket(s)
	Elapsed   time.Duration
}

// round sends the new flows of t at top speed through the reference forwarder.
func (r *refForward) round(ctx context.Context, t *Trace, maxTime time.Duration) (run fwdRun, err error) {
	var f *l2fwd.Forwarder
	if err = r.w.Appliance.Do(func() (err error) {
		f, err = l2fwd.Open(l2fwd.Config{In: AppIn, Out: AppOut, Strip: r.strip})
		return err
	}); err != nil {
		return run, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if err = r.dp.RegisterSocket(AppIn, 0, f.Fd()); err != nil {
		return run, err
	}
	defer func() { err = errors.Join(err, r.dp.UnregisterSocket(AppIn, 0)) }()
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, err := f.Run(&stop)
		done <- err
	}()
	run, err = sendNewFlows(ctx, r.w, r.recv, t, Timing{}, maxTime)
	stop.Store(true)
	err = errors.Join(err, <-done)
	st, _, serr := f.Stats()
	run.RxDropped = st.RxDropped + st.RxRingFull
	return run, errors.Join(err, serr)
}

// sendNewFlows sends t through w with timing and counts what reached recv.
func sendNewFlows(ctx context.Context, w *Wire, recv *baseline.Drop, t *Trace, timing Timing, maxTime time.Duration) (fwdRun, error) {
	var run fwdRun
	before, err := recv.Count()
	if err != nil {
		return run, err
	}
	s, err := SendAfxdp(ctx, w.Sender, SendIf, 1, t, t.Len(), timing, time.Now().Add(maxTime), nil)
	if err != nil {
		return run, fmt.Errorf("harness: new flows: %w", err)
	}
	after, err := recv.Count() // at once: frames still queued are not counted
	if err != nil {
		return run, err
	}
	time.Sleep(100 * time.Millisecond) // the forwarder drains its rings before the next run
	run.Sent, run.Delivered, run.Elapsed = uint64(s.Frames), after-before, s.Elapsed
	run.PPS = ratio(float64(run.Delivered), s.Elapsed.Seconds())
	return run, nil
}

// redirectWire is the bare devmap forwarder's wire, flooded by xdp/sender.
type redirectWire struct {
	*fwdWire
	tx *sender.Sender
}

func openRedirectWire() (_ *redirectWire, err error) {
	fw, err := openFwdWire()
	if err != nil {
		return nil, err
	}
	var red *baseline.Redirect
	if err = fw.w.Appliance.Do(func() (err error) { red, err = baseline.AttachDevmapRedirect(AppIn, AppOut); return err }); err != nil {
		return nil, errors.Join(fmt.Errorf("harness: devmap redirect baseline: %w", err), fw.close())
	}
	fw.undo = append(fw.undo, red.Close)
	r := &redirectWire{fwdWire: fw}
	if r.tx, err = sender.New(fw.w.Sender, SendIf); err != nil {
		return nil, errors.Join(err, fw.close())
	}
	fw.undo = append(fw.undo, r.tx.Close)
	return r, nil
}

// round floods chunk copies of frame through the devmap forwarder and returns the
// rate delivered, and whether the receiver got all that was sent.
func (r *redirectWire) round(frame []byte, chunk uint32) (pps float64, bound bool, err error) {
	before, err := r.recv.Count()
	if err != nil {
		return 0, false, err
	}
	t0 := time.Now()
	n, err := r.tx.Send(frame, chunk)
	if err != nil {
		return 0, false, err
	}
	d := time.Since(t0)
	after, err := r.recv.Count()
	if err != nil {
		return 0, false, err
	}
	return float64(after-before) / d.Seconds(), after-before >= n*99/100, nil
}
