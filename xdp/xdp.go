// Package xdp loads and attaches flowsieve's XDP program and gives typed access to
// its maps: per-flow verdicts, source-prefix verdicts, counters, the AF_XDP socket
// map and the per-interface configuration. Maps and links can be pinned on bpffs so
// verdicts survive a daemon restart and keep being enforced while the daemon is down
// (frames without a verdict then fail open).
//
// The program (bpf/flowsieve.c, types in bpf/flowsieve.h, compiled by bpf2go with
// `make generate`) decides every frame in this order:
//
//   - non-IP (ARP, LLDP, ...), ICMPv6 ND (types 133-137) and broken L2/L3 headers:
//     forwarded in the kernel, never to user space, never looked up;
//   - fs_flows4 / fs_flows (LRU hashes, canonical 5-tuple → Verdict): flows whose
//     two addresses are IPv4(-mapped) under a compact 16-byte key, the others
//     under the 40-byte Key (Verdicts hides the split); IPv4 packets look in
//     fs_cache4 first, a per-CPU direct-mapped cache of fs_flows4 verdicts voided
//     through the generation in fs_gen whenever Verdicts changes fs_flows4 (see
//     cacheBits for its limits);
//   - fs_prefix_v4 / fs_prefix_v6 (LPM tries, source prefix → Verdict): the
//     packet's source address, longest prefix (Blocklist);
//   - a verdict (not expired) is enforced: DROP drops, TAG rewrites DSCP (IPv4
//     checksum updated incrementally) and forwards, PASS forwards;
//   - no verdict: the victim's signature, fs_sig4 / fs_sig6 (hashes, destination →
//     slot and expiry) and fs_sig_nodes (array, slot → tree), walked per packet,
//     drops what its tree drops and counts it per slot in fs_sig_hits (Signatures);
//   - then the rate limits, fs_rl_src (LPM trie, source prefix → bucket) and
//     fs_rl_dst (hash, destination → bucket), IPv4 addresses IPv4-mapped: a packet
//     takes a token from each bucket it maps to in fs_rl_buckets (array of token
//     buckets with a spin lock each) and is dropped when one is empty (RateLimits).
//     fs_mitigate says which of these maps hold entries, so packets skip the others.
//     Signatures and rate limits act only on packets no verdict decided: a flow or
//     source verdict is a decision already taken about that traffic (a PASS flow to
//     an attacked victim is the benign traffic a rate limit must not starve), and the
//     flows served from fs_cache4 never pay for them; the signature goes first so the
//     packets it drops take no token from the buckets;
//   - no verdict: redirect to fs_xsks[xsk_base + rx queue] (the AF_XDP socket of
//     that queue, RegisterSocket), or forward when no socket is registered (fail open).
//
// Forwarding is XDP_PASS in monitor mode and a redirect through fs_peers (devmap
// hash, ingress ifindex → peer ifindex) in inline mode; fs_config (hash, ifindex →
// mode, peer, xsk_base) is written by Attach. fs_stats is one per-CPU array entry
// of NumCounters counters (Stats). Verdicts expire on CLOCK_MONOTONIC, read at
// tick resolution (bpf_ktime_get_coarse_ns; see Verdict and Deadline), and
// count packets and bytes atomically.
package xdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// AttachMode says how the program is attached to an interface.
type AttachMode string

// Attach modes. ModeAuto tries native (driver) mode and falls back to generic
// (SKB) mode, logging a warning; the others never fall back.
const (
	ModeAuto    AttachMode = "auto"
	ModeNative  AttachMode = "native"
	ModeGeneric AttachMode = "generic"
)

// Defaults and limits of Options.
const (
	DefaultPinDir        = "/sys/fs/bpf/flowsieve"
	DefaultQueues        = 64
	MaxQueues            = 1024
	DefaultFlowEntries   = 1 << 18
	DefaultPrefixEntries = 1 << 16
	bpffsRoot            = "/sys/fs/bpf"
)

// ErrOptions wraps every validation error of Options.
var ErrOptions = errors.New("xdp: invalid options")

// Options configures Load. They are validated before any system call.
type Options struct {
	// Interfaces are the interface names (in the caller's network namespace) the
	// program is attached to. Inline mode needs exactly two: each forwards to the other.
	Interfaces []string
	// Inline makes the two interfaces a bump in the wire (PASS/TAG and fail-open
	// traffic is redirected to the peer); otherwise forwarding means XDP_PASS.
	Inline bool
	// Mode is the attach mode; "" means ModeAuto.
	Mode AttachMode
	// PinDir is the bpffs directory for pinned maps and links; "" pins nothing
	// (everything goes when Close is called or the process exits). bpffs is
	// mounted on /sys/fs/bpf when PinDir is below it and it is not mounted yet.
	PinDir string
	// Queues is the number of RX queues per interface that can have an AF_XDP
	// socket (XSKMAP slots per interface); 0 means DefaultQueues. Frames on higher
	// queues never reach user space: they fail open (counter queue_unmapped).
	Queues int
	// FlowEntries sizes each flow LRU map (IPv4 and IPv6), PrefixEntries each prefix trie;
	// 0 means the default. Changing them replaces pinned maps (losing their entries).
	FlowEntries, PrefixEntries int
	// KeepState leaves pinned maps and links (the program stays attached) on Close.
	KeepState bool
	// Stamp forces how arrival times reach the AF_XDP workers; nil means the best
	// method this kernel allows (ChooseStamp), logged with the reason when it is not
	// XDP metadata. Forcing a method the kernel refuses fails the load.
	Stamp *Stamp
	// Logger receives fallbacks, replaced pins and reused state; nil means slog.Default().
	Logger *slog.Logger
}

// Validate checks the options without touching the system.
func (o *Options) Validate() error {
	if len(o.Interfaces) == 0 {
		return fmt.Errorf("%w: no interfaces", ErrOptions)
	}
	seen := map[string]bool{}
	for _, name := range o.Interfaces {
		if name == "" || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/ \t\n") {
			return fmt.Errorf("%w: interface name %q", ErrOptions, name)
		}
		if seen[name] {
			return fmt.Errorf("%w: interface %s listed twice", ErrOptions, name)
		}
		seen[name] = true
	}
	if o.Inline && len(o.Interfaces) != 2 {
		return fmt.Errorf("%w: inline mode needs exactly 2 interfaces, got %d", ErrOptions, len(o.Interfaces))
	}
	if o.Stamp != nil && *o.Stamp != StampNone && *o.Stamp != StampMeta && *o.Stamp != StampHead {
		return fmt.Errorf("%w: stamp method %d (want none, metadata or frame head)", ErrOptions, uint32(*o.Stamp))
	}
	switch o.Mode {
	case "", ModeAuto, ModeNative, ModeGeneric:
	default:
		return fmt.Errorf("%w: attach mode %q (want auto, native or generic)", ErrOptions, o.Mode)
	}
	if o.PinDir != "" && (!filepath.IsAbs(o.PinDir) || filepath.Clean(o.PinDir) != o.PinDir) {
		return fmt.Errorf("%w: pin dir %q must be a clean absolute path", ErrOptions, o.PinDir)
	}
	if o.Queues < 0 || o.Queues > MaxQueues {
		return fmt.Errorf("%w: queues %d (want 0..%d)", ErrOptions, o.Queues, MaxQueues)
	}
	if o.FlowEntries < 0 || o.PrefixEntries < 0 {
		return fmt.Errorf("%w: negative map size", ErrOptions)
	}
	if o.KeepState && o.PinDir == "" {
		return fmt.Errorf("%w: keep state needs a pin dir", ErrOptions)
	}
	return nil
}

func (o *Options) queues() int { return or(o.Queues, DefaultQueues) }

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Datapath is the loaded program with its maps, and its attachments once Attach ran.
type Datapath struct {
	opts   Options
	log    *slog.Logger
	closed bool
	objs   flowsieveObjects
	stamp  Stamp
	// newPins are map pins this Load created (removed again if Load fails).
	newPins []string
	ifaces  []attached

	// Verdicts, Blocklist, Stats, Signatures and RateLimits give typed access to the maps.
	Verdicts   *Verdicts
	Blocklist  *Blocklist
	Stats      *Stats
	Signatures *Signatures
	RateLimits *RateLimits
}

type attached struct {
	name    string
	ifindex int
	link    link.Link
	pin     string // "" when not pinned
	reused  bool   // the pinned link existed before this Attach
}

// Open loads the program and attaches it to every interface: Load then Attach.
func Open(o Options) (*Datapath, error) {
	d, err := Load(o)
	if err != nil {
		return nil, err
	}
	if err := d.Attach(); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// Load validates o, mounts bpffs if needed and loads the program and maps,
// reusing compatible pinned maps (their verdicts survive) and replacing
// incompatible ones with a warning. Nothing is attached yet. On failure nothing
// it created is left behind.
func Load(o Options) (*Datapath, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	d := &Datapath{opts: o, log: o.Logger}
	if d.log == nil {
		d.log = slog.Default()
	}
	spec, err := loadFlowsieve()
	if err != nil {
		return nil, fmt.Errorf("xdp: %w", err)
	}
	spec.Maps[flowsieveMapFsFlows].MaxEntries = uint32(or(o.FlowEntries, DefaultFlowEntries))
	spec.Maps[flowsieveMapFsFlows4].MaxEntries = uint32(or(o.FlowEntries, DefaultFlowEntries))
	spec.Maps[flowsieveMapFsPrefixV4].MaxEntries = uint32(or(o.PrefixEntries, DefaultPrefixEntries))
	spec.Maps[flowsieveMapFsPrefixV6].MaxEntries = uint32(or(o.PrefixEntries, DefaultPrefixEntries))
	spec.Maps[flowsieveMapFsXsks].MaxEntries = uint32(o.queues() * len(o.Interfaces))
	if d.stamp, err = d.chooseStamp(); err != nil {
		return nil, err
	}
	if err := spec.Variables[flowsieveVarFsStamp].Set(uint32(d.stamp)); err != nil {
		return nil, fmt.Errorf("xdp: set the stamp method: %w", err)
	}

	var opts ebpf.CollectionOptions
	if o.PinDir == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	} else {
		if err := ensurePinDir(o.PinDir, d.log); err != nil {
			return nil, err
		}
		if err := d.reconcilePins(spec); err != nil {
			return nil, errors.Join(err, d.removeNewPins())
		}
		opts.Maps.PinPath = o.PinDir
	}
	if err := spec.LoadAndAssign(&d.objs, &opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			// The whole log, not its last line, and still an *ebpf.VerifierError.
			err = &verifierError{ve}
		}
		return nil, errors.Join(fmt.Errorf("xdp: load program (stamp %s): %w", d.stamp, err), d.removeNewPins())
	}
	cache, err := openCache(d.objs.FsCache4, d.objs.FsGen)
	if err != nil {
		return nil, errors.Join(err, d.objs.Close(), d.removeNewPins())
	}
	// Slots a pinned cache holds were filled by an earlier program: void them.
	cache.bump()
	d.Verdicts = &Verdicts{m: d.objs.FsFlows, m4: d.objs.FsFlows4, c: cache}
	if n, err := d.Verdicts.migrate(); err != nil {
		return nil, errors.Join(fmt.Errorf("xdp: move IPv4 verdicts to fs_flows4: %w", err), cache.close(), d.objs.Close(), d.removeNewPins())
	} else if n > 0 {
		d.log.Info("xdp: moved IPv4 verdicts of a pinned fs_flows to fs_flows4", "verdicts", n)
	}
	d.Blocklist = &Blocklist{v4: d.objs.FsPrefixV4, v6: d.objs.FsPrefixV6}
	d.Stats = &Stats{m: d.objs.FsStats}
	mit := &mitigation{m: d.objs.FsMitigate}
	d.Signatures = &Signatures{victims: d.objs.FsSig4, victims6: d.objs.FsSig6, nodes: d.objs.FsSigNodes,
		hits: d.objs.FsSigHits, mit: mit}
	d.RateLimits = newRateLimits(&d.objs, mit)
	return d, nil
}

// chooseStamp returns the forced stamp method (validated) or the best the kernel
// allows.
func (d *Datapath) chooseStamp() (Stamp, error) {
	if d.opts.Stamp != nil {
		return *d.opts.Stamp, nil
	}
	s, why := ChooseStamp()
	if why != nil {
		d.log.Warn("xdp: arrival times cannot travel as XDP metadata; using the fallback",
			"stamp", s.String(), "reason", why.Error())
	}
	return s, nil
}

// Stamp says how the loaded program hands arrival times to AF_XDP sockets; the
// workers read (and, for StampHead, strip) the stamp accordingly.
func (d *Datapath) Stamp() Stamp { return d.stamp }

// verifierError keeps an *ebpf.VerifierError reachable by errors.As while its
// message is the whole verifier log (%+v), which says why a program was refused.
type verifierError struct{ ve *ebpf.VerifierError }

func (e *verifierError) Error() string { return fmt.Sprintf("%+v", e.ve) }
func (e *verifierError) Unwrap() error { return e.ve }

// reconcilePins records which map pins are new and replaces pinned maps that
// no longer match the spec (type, key/value size, entries or flags changed).
func (d *Datapath) reconcilePins(spec *ebpf.CollectionSpec) error {
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		path := filepath.Join(d.opts.PinDir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			d.newPins = append(d.newPins, path)
			continue
		}
		if err != nil {
			return fmt.Errorf("xdp: open pinned map %s: %w", path, err)
		}
		cerr := ms.Compatible(m)
		m.Close()
		if cerr == nil {
			d.log.Info("xdp: reusing pinned map", "map", name, "path", path)
			continue
		}
		d.log.Warn("xdp: pinned map does not match this program; replacing it, its entries are lost",
			"map", name, "path", path, "diff", cerr.Error())
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("xdp: remove stale pin %s: %w", path, err)
		}
		d.newPins = append(d.newPins, path)
	}
	return nil
}

func (d *Datapath) removeNewPins() error {
	var errs []error
	for _, p := range d.newPins {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	d.newPins = nil
	return errors.Join(errs...)
}

// ensurePinDir mounts bpffs on /sys/fs/bpf when dir is below it and nothing is
// mounted there, checks that dir is on bpffs, and creates it.
func ensurePinDir(dir string, log *slog.Logger) error {
	if dir == bpffsRoot || strings.HasPrefix(dir, bpffsRoot+"/") {
		if !isBPFFS(bpffsRoot) {
			if err := unix.Mount("bpf", bpffsRoot, "bpf", 0, "mode=0700"); err != nil {
				return fmt.Errorf("xdp: mount bpffs on %s: %w", bpffsRoot, err)
			}
			log.Info("xdp: mounted bpffs", "path", bpffsRoot)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("xdp: create pin dir: %w", err)
	}
	if !isBPFFS(dir) {
		return fmt.Errorf("%w: pin dir %s is not on a bpffs mount", ErrOptions, dir)
	}
	return nil
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// Attach writes each interface's configuration (mode, peer, XSKMAP base) and
// attaches the program to every interface, reusing pinned links from a previous
// run (their program is swapped atomically). All or nothing: on failure every
// attachment made by this call is undone.
func (d *Datapath) Attach() error {
	if len(d.ifaces) > 0 {
		return errors.New("xdp: already attached")
	}
	idx := make([]int, len(d.opts.Interfaces))
	for i, name := range d.opts.Interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("xdp: interface %s: %w", name, err)
		}
		idx[i] = ifi.Index
	}
	if err := d.dropStaleConfig(idx); err != nil {
		return err
	}
	for i := range idx {
		cfg := flowsieveFsIface{Mode: 0, XskBase: uint32(i * d.opts.queues()), XskCount: uint32(d.opts.queues())}
		if d.opts.Inline {
			peer := idx[1-i]
			cfg.Mode, cfg.PeerIfindex = 1, uint32(peer)
			if err := d.objs.FsPeers.Update(uint32(idx[i]), uint32(peer), ebpf.UpdateAny); err != nil {
				return fmt.Errorf("xdp: devmap %s -> %s: %w", d.opts.Interfaces[i], d.opts.Interfaces[1-i], err)
			}
		}
		if err := d.objs.FsConfig.Update(uint32(idx[i]), &cfg, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("xdp: config for %s: %w", d.opts.Interfaces[i], err)
		}
	}
	for i, name := range d.opts.Interfaces {
		a, err := d.attach(name, idx[i])
		if err != nil {
			return errors.Join(err, d.undoAttach())
		}
		d.ifaces = append(d.ifaces, a)
	}
	return nil
}

// dropStaleConfig removes configuration left in pinned maps by a previous run for
// interfaces that are not managed now (or whose ifindex changed).
func (d *Datapath) dropStaleConfig(idx []int) error {
	keep := map[uint32]bool{}
	for _, i := range idx {
		keep[uint32(i)] = true
	}
	for _, m := range []*ebpf.Map{d.objs.FsConfig, d.objs.FsPeers} {
		var stale []uint32
		var k uint32
		it := m.Iterate()
		var v []byte
		for it.Next(&k, &v) {
			if !keep[k] {
				stale = append(stale, k)
			}
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("xdp: read %s: %w", m, err)
		}
		for _, k := range stale {
			if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("xdp: drop stale entry %d of %s: %w", k, m, err)
			}
		}
	}
	return nil
}

func (d *Datapath) attach(name string, ifindex int) (attached, error) {
	a := attached{name: name, ifindex: ifindex}
	prog := d.objs.Flowsieve
	if d.opts.PinDir != "" {
		a.pin = filepath.Join(d.opts.PinDir, "link_"+name)
		if l, err := link.LoadPinnedLink(a.pin, nil); err == nil {
			info, ierr := l.Info()
			if ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == ifindex {
				if err := l.Update(prog); err != nil {
					l.Close()
					return a, fmt.Errorf("xdp: update pinned link %s: %w", a.pin, err)
				}
				d.log.Info("xdp: replaced the program on the pinned link", "interface", name, "pin", a.pin)
				a.link, a.reused = l, true
				return a, nil
			}
			d.log.Warn("xdp: pinned link belongs to another interface; replacing it", "interface", name, "pin", a.pin)
			err := errors.Join(l.Unpin(), l.Close())
			if err != nil {
				return a, fmt.Errorf("xdp: remove stale link %s: %w", a.pin, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return a, fmt.Errorf("xdp: open pinned link %s: %w", a.pin, err)
		}
	}
	mode := d.opts.Mode
	if mode == "" {
		mode = ModeAuto
	}
	var l link.Link
	var err error
	switch mode {
	case ModeNative, ModeAuto:
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
		if err != nil && mode == ModeAuto {
			d.log.Warn("xdp: native attach failed; falling back to generic (SKB) mode, which is slower",
				"interface", name, "error", err.Error())
			l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
		}
	case ModeGeneric:
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
	}
	if err != nil {
		return a, fmt.Errorf("xdp: attach to %s (%s mode): %w", name, mode, err)
	}
	if a.pin != "" {
		if err := l.Pin(a.pin); err != nil {
			return a, errors.Join(fmt.Errorf("xdp: pin link %s: %w", a.pin, err), l.Close())
		}
	}
	a.link = l
	return a, nil
}

// undoAttach detaches what a failed Attach attached. Links pinned by an earlier
// run stay pinned (that run's state, now running this program with the same
// pinned maps, keeps being enforced); the per-interface configuration stays, as
// such a link needs it and it is inert without one.
func (d *Datapath) undoAttach() error {
	var errs []error
	for _, a := range d.ifaces {
		if a.pin != "" && !a.reused {
			if err := a.link.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("xdp: unpin link %s: %w", a.pin, err))
			}
		}
		if err := a.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("xdp: detach %s: %w", a.name, err))
		}
	}
	d.ifaces = nil
	return errors.Join(errs...)
}

// detach closes (and, unless keep, unpins) every attachment: without a pin
// keeping it, closing the link detaches the program.
func (d *Datapath) detach(keep bool) error {
	var errs []error
	for _, a := range d.ifaces {
		if a.pin != "" && !keep {
			if err := a.link.Unpin(); err != nil {
				errs = append(errs, fmt.Errorf("xdp: unpin link %s: %w", a.pin, err))
			}
		}
		if err := a.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("xdp: detach %s: %w", a.name, err))
		}
	}
	d.ifaces = nil
	return errors.Join(errs...)
}

// Interfaces returns the names of the interfaces the program is attached to.
func (d *Datapath) Interfaces() []string {
	out := make([]string, len(d.ifaces))
	for i, a := range d.ifaces {
		out[i] = a.name
	}
	return out
}

// slot returns the XSKMAP slot of queue on ifname.
func (d *Datapath) slot(ifname string, queue int) (uint32, error) {
	if queue < 0 || queue >= d.opts.queues() {
		return 0, fmt.Errorf("xdp: queue %d out of range 0..%d", queue, d.opts.queues()-1)
	}
	for i, name := range d.opts.Interfaces {
		if name == ifname {
			return uint32(i*d.opts.queues() + queue), nil
		}
	}
	return 0, fmt.Errorf("xdp: interface %s is not managed", ifname)
}

// RegisterSocket makes fd (an AF_XDP socket bound to queue of ifname) receive the
// frames of that queue that have no verdict.
func (d *Datapath) RegisterSocket(ifname string, queue, fd int) error {
	s, err := d.slot(ifname, queue)
	if err != nil {
		return err
	}
	if err := d.objs.FsXsks.Update(s, uint32(fd), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("xdp: register socket for %s queue %d: %w", ifname, queue, err)
	}
	return nil
}

// UnregisterSocket removes the socket of queue on ifname: that queue fails open.
// Closing the socket has the same effect.
func (d *Datapath) UnregisterSocket(ifname string, queue int) error {
	s, err := d.slot(ifname, queue)
	if err != nil {
		return err
	}
	if err := d.objs.FsXsks.Delete(s); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("xdp: unregister socket for %s queue %d: %w", ifname, queue, err)
	}
	return nil
}

// Close detaches the program and removes the pins, or, with KeepState, leaves
// pinned links and maps in place so the program keeps enforcing the verdicts.
func (d *Datapath) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	keep := d.opts.KeepState
	errs := []error{d.detach(keep)}
	if d.opts.PinDir != "" && !keep {
		for _, m := range []*ebpf.Map{d.objs.FsFlows, d.objs.FsFlows4, d.objs.FsPrefixV4, d.objs.FsPrefixV6,
			d.objs.FsConfig, d.objs.FsPeers, d.objs.FsXsks, d.objs.FsStats, d.objs.FsCache4, d.objs.FsGen,
			d.objs.FsSig4, d.objs.FsSigNodes, d.objs.FsSigHits} {
			if m != nil {
				errs = append(errs, m.Unpin())
			}
		}
		if err := os.Remove(d.opts.PinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("xdp: remove pin dir: %w", err))
		}
	}
	if d.Verdicts != nil {
		errs = append(errs, d.Verdicts.c.close())
	}
	errs = append(errs, d.objs.Close())
	return errors.Join(errs...)
}

// ArrivalMetaSize is the size of the XDP metadata the program puts in front of every
// frame it redirects to an AF_XDP socket: the frame's arrival time, CLOCK_MONOTONIC
// nanoseconds as a native-endian uint64 (FS_META_SIZE in bpf/flowsieve.h). Workers read
// it with afxdp.UMEM.Meta to timestamp frames when they arrived rather than when their
// batch is processed.
const ArrivalMetaSize = 8
