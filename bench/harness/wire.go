package harness

import (
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
	wire                        *netns.Wire
}

// NewWire creates the three namespaces and the two veth pairs with queues rx/tx
// queues per end. On failure nothing is left behind.
func NewWire(queues int) (*Wire, error) {
	queues = max(queues, 1)
	w, err := netns.NewWire(netns.WireConfig{
		Prefix: "fs-harness", Queues: queues,
		Names: netns.WireNames{Left: SendIf, In: AppIn, Out: AppOut, Right: RecvIf},
	})
	if err != nil {
		return nil, fmt.Errorf("harness: wire: %w", err)
	}
	return &Wire{Sender: w.Left, Appliance: w.Middle, Receiver: w.Right, Queues: queues, wire: w}, nil
}

// Close deletes the namespaces and everything in them.
func (w *Wire) Close() error { return w.wire.Close() }
