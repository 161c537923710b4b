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
	if len(ifname) == 0 || len(ifname) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("%w: interface name %q", ErrConfig, ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("afxdp: %s: socket for ethtool: %w", ifname, err)
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&ch)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		if e == unix.EOPNOTSUPP {
			return 1, nil
		}
		return 0, fmt.Errorf("afxdp: %s: ethtool channels: %w", ifname, e)
	}
	return int(max(ch.rxCount, ch.combinedCount, 1)), nil
}
