package metrics

import (
	"net/http/pprof"
	"runtime"
)

// Sampling of the block and mutex profiles while profiles are served: one
// blocking event per blockRate ns blocked, one in mutexFraction contended mutexes.
const (
	blockRate     = 10000
	mutexFraction = 10
)

// ServeProfiles adds Go's profiles under /debug/pprof/ (CPU, heap, goroutine,
// block, mutex, execution trace: go tool pprof and go tool trace read them) to
// what the server serves, and turns on block and mutex sampling. Call it once,
// on a server listening on loopback only (config metrics.pprof).
func (s *Server) ServeProfiles() {
	runtime.SetBlockProfileRate(blockRate)
	runtime.SetMutexProfileFraction(mutexFraction)
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
