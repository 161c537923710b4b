// Package config holds the flowsieve daemon's configuration: the Config struct, its
// defaults, loading from a YAML file, the environment and command-line flags (in that
// order of precedence, later wins), and validation whose errors name the key and where
// its value came from (file:line, environment variable or flag). It also decodes policy
// files (LoadPolicy), since engine/policy stays free of YAML.
//
// Every key is declared once, as a struct field: the yaml tag is the key, the
// environment variable is FLOWSIEVE_ plus the key path in upper case with dots as
// underscores (flow.idle_timeout → FLOWSIEVE_FLOW_IDLE_TIMEOUT), the optional flag tag
// names a command-line flag, and the help tag documents it.
package config

import (
	"errors"
	"github.com/flowsieve/flowsieve/configs"
	"time"
)

// ErrInvalid marks every configuration error (bad file, unknown key, bad value).
var ErrInvalid = errors.New("invalid configuration")

// Config is the daemon's configuration. Load it with Load; the zero value is not valid.
type Config struct {
	Mode       string     `yaml:"mode" flag:"mode" help:"Operating mode: inline (bump in the wire between interfaces.in and interfaces.out) or monitor (mirror port, nothing is forwarded)."`
	Interfaces Interfaces `yaml:"interfaces"`
	Queues     int        `yaml:"queues" flag:"queues" help:"Number of queues per interface to serve, one worker each; 0 serves every combined channel of the interface."`
	CPUs       []int      `yaml:"cpus" flag:"cpus" help:"CPUs to pin the workers to, in queue order and reused round-robin (a list, or \"0-3,6\" in flags and the environment); empty leaves workers unpinned."`
	WorkerNice int        `yaml:"worker_nice" flag:"worker-nice" help:"Nice value of the worker threads, -20 (first served) to 19; 0 leaves them as the process. A negative value lets a worker woken by a frame preempt other tasks of its CPU at once instead of waiting for its turn: less latency on a busy machine, at the other tasks' expense. Needs CAP_SYS_NICE; when refused, the log says so and workers keep the process's value."`
	XDP        XDP        `yaml:"xdp"`
	Flow       Flow       `yaml:"flow"`
	BatchSize  int        `yaml:"batch_size" flag:"batch-size" help:"Frames a worker takes from its ring at once."`
	Classify   Classify   `yaml:"classify"`
	Model      Model      `yaml:"model"`
	Policy     PolicyRef  `yaml:"policy"`
	StateDir   string     `yaml:"state_dir" flag:"state-dir" help:"Directory where the daemon persists the applied policy and the block and allow entries (written atomically)."`
	Verdicts   Verdicts   `yaml:"verdicts"`
	Metrics    Metrics    `yaml:"metrics"`
	Control    Control    `yaml:"control"`
	Log        Log        `yaml:"log"`
	Export     Export     `yaml:"export"`
	Alerts     Alerts     `yaml:"alerts"`
	Fleet      Fleet      `yaml:"fleet"`
	Mitigation Mitigation `yaml:"mitigation"`

	origins map[string]origin // key path → where its value came from
}

// Interfaces names the network interfaces the daemon attaches to.
type Interfaces struct {
	In      string `yaml:"in" flag:"in" help:"Inline mode: the first interface of the wire; traffic arriving here is inspected and sent out of interfaces.out."`
	Out     string `yaml:"out" flag:"out" help:"Inline mode: the second interface of the wire; traffic arriving here is inspected and sent out of interfaces.in."`
	Monitor string `yaml:"monitor" flag:"monitor" help:"Monitor mode: the mirror-port interface to inspect."`
}

// XDP configures how the XDP program is attached and where its maps are pinned.
type XDP struct {
	Mode                 string `yaml:"mode" flag:"xdp-mode" help:"XDP attach mode: native (driver), generic (skb, slower, works everywhere) or auto (native, else generic)."`
	AllowGenericFallback bool   `yaml:"allow_generic_fallback" help:"With mode native: fall back to generic mode when the driver cannot attach natively, instead of failing."`
	PinDir               string `yaml:"pin_dir" help:"bpffs directory where the program's maps and links are pinned (an absolute path on a bpf file system)."`
	KeepStateOnExit      bool   `yaml:"keep_state_on_exit" flag:"keep-state" help:"Leave the XDP program attached and its maps pinned when the daemon exits, so verdicts stay enforced and forwarding continues while it restarts."`
	Stamp                string `yaml:"stamp" flag:"xdp-stamp" help:"How the XDP program hands each frame's arrival time to user space: auto (the best the kernel allows, see flowsieve probe), metadata (XDP metadata), frame_head (prepended to the frame and stripped by the worker) or none (stamped when received)."`
}

// Flow configures the per-worker flow tables and the decision point.
type Flow struct {
	Capacity      int           `yaml:"capacity" help:"Most flows tracked at once over all workers; the oldest idle flows are evicted beyond it."`
	IdleTimeout   time.Duration `yaml:"idle_timeout" help:"A flow with no packet for this long ends."`
	ActiveTimeout time.Duration `yaml:"active_timeout" help:"A flow active for this long is ended and classified, then starts again."`
	EarlyPackets  int           `yaml:"early_packets" help:"The early decision point: classify a flow after this many packets; 0 classifies at flow end only."`
}

// Classify configures how a worker batches the classification of flows that reach
// their decision point: larger batches classify faster per flow, and the frames of
// a flow waiting for its batch are held (not forwarded) until it is decided.
type Classify struct {
	Batch    int           `yaml:"batch" help:"Most flows a worker classifies in one batch: it classifies once this many are pending. 1 classifies each flow alone the moment it reaches its decision point, holding no frame; otherwise batch + batch_size is at most 128."`
	MaxDelay time.Duration `yaml:"max_delay" help:"Longest a flow that reached its decision point waits for its batch to fill (its frames are held meanwhile); 0 classifies at every receive batch. At most 10ms."`
}

// Model names the classification model file.
type Model struct {
	Path string `yaml:"path" flag:"model" kind:"path" help:"Model file (decision tree and k-means clusters); relative paths are relative to the config file's directory; default names the model built into flowsieve (docs/model-card.md)."`
}

// PolicyRef names the policy file.
type PolicyRef struct {
	Path string `yaml:"path" flag:"policy" kind:"path" help:"Policy file (see configs/policy.yaml); relative paths are relative to the config file's directory. Empty means the built-in policy: PASS everything."`
}

// Verdicts configures the verdict writer.
type Verdicts struct {
	DefaultTTL    time.Duration `yaml:"default_ttl" help:"Verdict TTL for policy rules that set none and whose policy has no settings.default_ttl."`
	WriterBatch   int           `yaml:"writer_batch" help:"Most verdicts written to the XDP maps in one batch."`
	FlushInterval time.Duration `yaml:"flush_interval" help:"Longest a verdict waits for its batch to fill before it is written."`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Listen string `yaml:"listen" flag:"metrics-listen" help:"host:port serving /metrics and /healthz; empty disables the endpoint."`
	Pprof  bool   `yaml:"pprof" flag:"metrics-pprof" help:"Also serve Go's profiles under /debug/pprof/ (CPU, heap, goroutine, block, mutex, execution trace) on metrics.listen, which must then be a loopback address; block and mutex events are sampled while it is on."`
}

// Control configures the control API.
type Control struct {
	Socket     string     `yaml:"socket" flag:"control-socket" help:"Unix socket of the control API used by the flowsieve policy, block, verdicts, stats and status commands."`
	SocketMode FileMode   `yaml:"socket_mode" help:"Permissions of the control socket (octal); it must not be writable by others."`
	TCP        ControlTCP `yaml:"tcp"`
}

// ControlTCP configures the optional TCP listener of the control API.
type ControlTCP struct {
	Listen      string `yaml:"listen" help:"host:port of an additional TCP control listener; empty disables it. Must be a loopback address unless allow_remote is true."`
	TokenFile   string `yaml:"token_file" kind:"path" help:"File holding the token TCP clients must present; required when listen is set."`
	AllowRemote bool   `yaml:"allow_remote" help:"Allow listen on a non-loopback address."`
}

// Log configures the daemon's structured logs.
type Log struct {
	Level  string `yaml:"level" flag:"log-level" help:"Least severe level logged: debug, info, warn or error."`
	Format string `yaml:"format" flag:"log-format" help:"Log format: text or json."`
}

// Export configures the IPFIX export of finished flows (docs/ipfix.md).
type Export struct {
	IPFIX     string `yaml:"ipfix" flag:"ipfix" help:"IPFIX collector, host:port, every finished flow is sent to over UDP; empty disables it."`
	IPFIXFile string `yaml:"ipfix_file" kind:"path" help:"File every finished flow is written to as IPFIX messages; empty disables it."`
	Domain    int    `yaml:"domain" help:"IPFIX Observation Domain ID written in the messages."`
	Queue     int    `yaml:"queue" help:"Finished flows each worker queues for the exporter; when full, flows are not exported (counted)."`
}

// Alerts configures the EVE-style alert log (docs/eve.md).
type Alerts struct {
	File     string `yaml:"file" kind:"path" help:"EVE JSON alert log (one line per DROP, ALERT or TAG verdict); empty disables it. SIGHUP reopens it."`
	MaxBytes int    `yaml:"max_bytes" help:"Rotate the alert log once it would exceed this many bytes (file.1, file.2, ...)."`
	Keep     int    `yaml:"keep" help:"Rotated alert logs kept."`
	Socket   string `yaml:"socket" help:"Unix stream socket a consumer listens on; the alert lines are also written there. Empty disables it."`
	Flows    bool   `yaml:"flows" help:"Also log PASS verdicts, as event_type flow."`
	Queue    int    `yaml:"queue" help:"Alert events waiting to be written before new ones are dropped (counted)."`
}

// FileMode is a permission mode written in octal ("0600").
type FileMode uint32

// Default returns the configuration used for every key the file, environment and flags
// leave unset. configs/flowsieve.yaml documents the same values.
func Default() Config {
	return Config{
		Mode:      "inline",
		Queues:    0,
		CPUs:      []int{},
		XDP:       XDP{Mode: "auto", AllowGenericFallback: false, PinDir: "/sys/fs/bpf/flowsieve", KeepStateOnExit: true, Stamp: "auto"},
		Flow:      Flow{Capacity: 1 << 20, IdleTimeout: 30 * time.Second, ActiveTimeout: 120 * time.Second, EarlyPackets: 8},
		BatchSize: 64,
		Classify:  Classify{Batch: 64, MaxDelay: 200 * time.Microsecond},
		Model:     Model{Path: configs.DefaultModelName},
		Policy:    PolicyRef{Path: "policy.yaml"},
		StateDir:  "/var/lib/flowsieve",
		Verdicts:  Verdicts{DefaultTTL: 5 * time.Minute, WriterBatch: 256, FlushInterval: 10 * time.Millisecond},
		Metrics:   Metrics{Listen: "127.0.0.1:9743"},
		Control: Control{
			Socket:     "/run/flowsieve/control.sock",
			SocketMode: 0o600,
		},
		Log:        Log{Level: "info", Format: "text"},
		Export:     Export{Domain: 0, Queue: 4096},
		Alerts:     Alerts{MaxBytes: 100 << 20, Keep: 5, Queue: 4096},
		Fleet:      Fleet{Model: FleetModelPinned, DefaultTTL: time.Hour, MaxTTL: 7 * 24 * time.Hour, Buffer: 10000},
		Mitigation: defaultMitigation(),
	}
}
