package afxdp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolChannels is struct ethtool_channels (ETHTOOL_GCHANNELS).
type ethtoolChannels struct {
	cmd                                         uint32
	maxRX, maxTX, maxOther, maxCombined         uint32
	rxCount, txCount, otherCount, combinedCount uint32
}

// ifreqData is struct ifreq with the ifr_data member of the union.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// Queues returns the number of receive queues of an interface (ethtool's channel
// count: the larger of the RX-only and combined channels), so a caller can open one
// socket per queue. It is resolved in the calling thread's network namespace; devices
// without channel information (ETHTOOL_GCHANNELS unsupported) count as one queue.
func Queues(ifname string) (int, error) {
	ch, err := channels(ifname)
	if err != nil {
		return 0, err
	}
	return int(max(ch.rxCount, ch.combinedCount, 1)), nil
}

// TXQueues returns how many queues of an interface an AF_XDP socket can transmit on:
// a socket binds to a queue that exists both for receiving and for transmitting, so
// it is the smaller of the receive and transmit channel counts (each at least the
// combined channels). Resolved like Queues.
func TXQueues(ifname string) (int, error) {
	ch, err := channels(ifname)
	if err != nil {
		return 0, err
	}
	return int(min(max(ch.rxCount, ch.combinedCount, 1), max(ch.txCount, ch.combinedCount, 1))), nil
}

// channels reads the interface's channel counts (ETHTOOL_GCHANNELS); a device without
// them reports one combined channel.
func channels(ifname string) (ethtoolChannels, error) {
	if len(ifname) == 0 || len(ifname) >= unix.IFNAMSIZ {
		return ethtoolChannels{}, fmt.Errorf("%w: interface name %q", ErrConfig, ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ethtoolChannels{}, fmt.Errorf("afxdp: %s: socket for ethtool: %w", ifname, err)
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&ch)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		if e == unix.EOPNOTSUPP {
			return ethtoolChannels{combinedCount: 1}, nil
		}
		return ethtoolChannels{}, fmt.Errorf("afxdp: %s: ethtool channels: %w", ifname, e)
	}
	return ch, nil
}
