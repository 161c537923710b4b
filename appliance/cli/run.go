package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/appliance/metrics"
	"github.com/flowsieve/flowsieve/appliance/pipeline"
	"github.com/flowsieve/flowsieve/xdp"
)

// runCommand is `flowsieve run`: the daemon.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the appliance: inline between two interfaces (--in, --out) or on a mirror port (--monitor)",
		Description: Prose(`Loads the model and policy, attaches the XDP program, opens one AF_XDP socket per queue and
			interface and starts one worker per queue. Inline (--in IF --out IF), traffic in both directions is
			inspected and forwarded; flows are classified at the model's decision point and the policy's
			verdicts (DROP, TAG, PASS) are enforced by the XDP program from the next packet on. With --monitor IF
			traffic is inspected and verdicts recorded, nothing is forwarded. Settings come from the config file
			(--config, see configs/flowsieve.yaml), the environment and flags. SIGHUP reloads the model and the
			policy (an invalid file is rejected and the running ones stay); SIGINT and SIGTERM stop the daemon,
			which by default leaves the program attached and the verdict maps pinned so enforcement and
			forwarding continue until it is back. Prometheus metrics and /healthz are served on metrics.listen.`),
		Flags:  config.Flags(),
		Action: runRun,
	}
}

// newLogger builds the daemon's structured logger from the log settings.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serveControl restores the persisted blocks into the maps and serves the control API
// (policy apply and model load hot-swap like SIGHUP).
func serveControl(cfg *config.Config, p *pipeline.Pipeline, log *slog.Logger) (*control.Server, *pipeline.Control, error) {
	pipeline.Version = Version
	b, restored, err := pipeline.NewControl(p)
	if err != nil {
		return nil, nil, fmt.Errorf("control: restoring blocks: %w", err)
	}
	if restored > 0 {
		log.Info("restored persisted blocks and allows", "entries", restored)
	}
	opts, err := control.ServerOptions(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	s, err := control.Listen(b, opts)
	if err != nil {
		return nil, nil, err
	}
	log.Info("control API listening", "socket", s.Path())
	return s, b, nil
}

func runRun(c *cli.Context) error {
	cfg, err := config.FromCLI(c)
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	// --monitor alone means monitor mode unless the mode was set explicitly.
	if cfg.Interfaces.Monitor != "" && cfg.Interfaces.In == "" && cfg.Interfaces.Out == "" && cfg.Origin("mode") == "default" {
		cfg.Mode = "monitor"
	}
	if err := cfg.RequireInterfaces(); err != nil {
		return cli.Exit(err.Error(), 2)
	}
	log := newLogger(c.App.ErrWriter, cfg)

	// Signals are caught before the data path exists, so none is lost during set-up.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	p, err := pipeline.Start(cfg, log)
	if err != nil {
		code := 1
		if errors.Is(err, xdp.ErrUnsupported) {
			code = 3
		}
		return cli.Exit(fmt.Sprintf("run: %v", err), code)
	}
	var srv *metrics.Server
	if cfg.Metrics.Listen != "" {
		if srv, err = metrics.Serve(cfg.Metrics.Listen, p, log); err != nil {
			return cli.Exit(fmt.Sprintf("run: %v", errors.Join(err, p.Close())), 1)
		}
		if cfg.Metrics.Pprof {
			srv.ServeProfiles()
		}
	}
	var ctl *control.Server
	var backend *pipeline.Control
	if cfg.Control.Socket != "" {
		if ctl, backend, err = serveControl(cfg, p, log); err != nil {
			errs := []error{err, p.Close()}
			if srv != nil {
				errs = append(errs, srv.Close())
			}
			return cli.Exit(fmt.Sprintf("run: %v", errors.Join(errs...)), 1)
		}
	}
	member, err := joinFleet(cfg, p, backend, log)
	if err != nil {
		errs := []error{err, p.Close()}
		if ctl != nil {
			errs = append(errs, ctl.Close())
		}
		if srv != nil {
			errs = append(errs, srv.Close())
		}
		return cli.Exit(fmt.Sprintf("run: %v", errors.Join(errs...)), 1)
	}
	if member != nil && srv != nil {
		if err := srv.Register(member.Collector()); err != nil {
			log.Warn("fleet: metrics not registered", "err", err)
		}
	}
	if mb, ok := any(backend).(control.MitigationBackend); ok && backend != nil && srv != nil {
		if err := srv.Register(metrics.NewMitigationCollector(mb)); err != nil {
			log.Warn("mitigation: metrics not registered", "err", err)
		}
	}
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			p.Reload() // logs and keeps the running model and policy on error
			continue
		}
		log.Info("stopping", "signal", sig.String())
		break
	}
	var errs []error
	if member != nil {
		errs = append(errs, member.Close())
	}
	if ctl != nil {
		errs = append(errs, ctl.Close())
	}
	if srv != nil {
		errs = append(errs, srv.Close())
	}
	errs = append(errs, p.Close())
	if err := errors.Join(errs...); err != nil {
		return cli.Exit(fmt.Sprintf("run: shutdown: %v", err), 1)
	}
	return nil
}
