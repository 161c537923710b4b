package harness

import (
	"errors"
	"fmt"

	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Interface names of the virtual wire. Each lives in its own namespace, so the
// names never collide with other runs.
const (
	SendIf = "hs0" // sender end, in the sender namespace
	AppIn  = "ha0" // appliance side facing the sender
	AppOut = "ha1" // appliance side facing the receiver
	RecvIf = "hr0" // receiver end, in the receiver namespace
)

// Wire is the virtual-wire topology: sender namespace (hs0) — veth — appliance
// namespace (ha0 | ha1) — veth — receiver namespace (hr0). Close removes it all.
type Wire struct {
	Sender, Appliance, Receiver *netns.NS
	Queues                      int
}

// NewWire creates the three namespaces and the two veth pairs with queues rx/tx
// queues per end. On failure nothing is left behind.
func NewWire(queues int) (w *Wire, err error) {
	if queues < 1 {
		queues = 1
	}
	w = &Wire{Queues: queues}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.Close())
			w = nil
		}
	}()
	for _, p := range []**netns.NS{&w.Sender, &w.Appliance, &w.Receiver} {
		if *p, err = netns.New("fs-harness"); err != nil {
			return w, fmt.Errorf("harness: wire: %w", err)
		}
	}
	for _, v := range []netns.Veth{
		{Name: SendIf, Peer: AppIn, NS: w.Sender, PeerNS: w.Appliance, Queues: queues},
		{Name: AppOut, Peer: RecvIf, NS: w.Appliance, PeerNS: w.Receiver, Queues: queues},
	} {
		if err = netns.AddVeth(v); err != nil {
			return w, fmt.Errorf("harness: wire: %w", err)
		}
	}
	return w, nil
}

// Close deletes the namespaces and everything in them.
func (w *Wire) Close() error {
	var errs []error
	for _, ns := range []*netns.NS{w.Sender, w.Appliance, w.Receiver} {
		if ns != nil {
			errs = append(errs, ns.Close())
		}
	}
	return errors.Join(errs...)
}
