package xdp

import "fmt"

// Stamp says how the XDP program hands a frame's arrival time (CLOCK_MONOTONIC ns)
// to the AF_XDP worker. The loader sets it as a load-time constant, so the verifier
// never walks the paths of the other methods (a kernel that refuses a helper rejects
// the whole program if it reaches a call to it).
type Stamp uint32

// Stamp methods. The values are the program's fs_stamp constant.
const (
	// StampNone: no stamp; the worker timestamps frames when it receives them.
	StampNone Stamp = 0
	// StampMeta: ArrivalMetaSize bytes of XDP metadata in front of the packet
	// (bpf_xdp_adjust_meta); the packet itself is unchanged.
	StampMeta Stamp = 1
	// StampHead: ArrivalMetaSize bytes prepended to the frame (bpf_xdp_adjust_head):
	// the descriptor covers stamp + packet, and the worker strips the stamp before it
	// inspects or transmits the frame.
	StampHead Stamp = 2
)

// String names the method as the probe and the logs show it.
func (s Stamp) String() string {
	switch s {
	case StampNone:
		return "none"
	case StampMeta:
		return "xdp_metadata"
	case StampHead:
		return "frame_head"
	}
	return fmt.Sprintf("stamp(%d)", uint32(s))
}

// ChooseStamp picks the best method this kernel allows: metadata where
// bpf_xdp_adjust_meta is allowed, else a prepended stamp where bpf_xdp_adjust_head
// is, else none. The error says why a better method was not chosen (nil for
// StampMeta).
func ChooseStamp() (Stamp, error) {
	metaErr := HaveMetadata()
	if metaErr == nil {
		return StampMeta, nil
	}
	if err := HaveAdjustHead(); err != nil {
		return StampNone, fmt.Errorf("%w; %w", metaErr, err)
	}
	return StampHead, metaErr
}
