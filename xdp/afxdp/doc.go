// Package afxdp implements AF_XDP sockets on golang.org/x/sys/unix: a UMEM (the packet
// buffer area shared with the kernel) with a LIFO free-frame stack and exact frame
// accounting, and sockets whose fill, completion, RX and TX rings are mmap'd and driven
// with load-acquire/store-release on the shared indices, cached indices, batched calls
// into caller-owned slices with no allocation, XDP_USE_NEED_WAKEUP, zero-copy with a
// logged fall back to copy mode, XDP_SHARED_UMEM across devices and queues, and the
// kernel's XDP_STATISTICS.
//
// A receive loop on one queue:
//
//	u, _ := afxdp.NewUMEM(afxdp.UMEMConfig{})
//	s, _ := u.Open(afxdp.SocketConfig{Interface: "eth0", Queue: 0})
//	// store s.Fd() in the XSKMAP of the XDP program at index 0
//	descs := make([]afxdp.Desc, 64)
//	addrs := make([]uint64, 64)
//	for {
//		s.Refill() // free frames to the fill ring
//		n := s.Receive(descs)
//		if n == 0 {
//			s.WakeRX() // a syscall only when the kernel asked for one
//			continue
//		}
//		for i, d := range descs[:n] {
//			process(u.Data(d))
//			addrs[i] = d.Addr
//		}
//		f := s.Fill(addrs[:n])   // straight back to the kernel (or s.Recycle(descs[:n])) …
//		u.Free(addrs[f:n])       // … or onto the free stack when the fill ring is full
//	}
//
// Forwarding between two devices without copying: open the second device's socket on
// the same UMEM, Transmit the received descriptors on it, call WakeTX while TXPending
// is non-zero (copy mode transmits only inside that system call; SocketConfig.TXBudget
// raises the per-call batch), and Fill the first socket with what Complete returns.
// Multi-queue devices take one socket per queue (Queues counts them), each on its own
// UMEM or all on one.
//
// Every frame is always in exactly one place: the free stack, the kernel's hands for
// receiving (fill), the kernel's hands for transmitting (TX until completed), or the
// application's. UMEM.Accounting reports the four counts; with UMEMConfig.Debug it also
// tracks each frame and counts illegal moves such as a double free.
//
// Package rxdrop holds a receive loop on this package and a minimal reference loop on
// the raw rings, to measure the package against the bare kernel interface.
package afxdp
