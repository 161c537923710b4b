package harness

import (
	"context"
	"errors"
	"time"
)

// replayRun is what sending the trace through the wire did, before accounting.
type replayRun struct {
	sent   Sent
	series []Sample // frames delivered over time
	probe  *prober  // latency probes (AF_XDP sender), or nil
	writer *verdictWriter
	// CPU over the replay: the machine's jiffies and this process's seconds.
	cpu0, cpu1 procStat
	ru0, ru1   float64
}

// replayThrough writes the verdicts due before the replay, sends the trace with
// latency probes (AF_XDP) while sampling the receiver, and writes each ground-truth
// verdict once its trigger frame has been sent.
func replayThrough(ctx context.Context, c *ReplayConfig, w *Wire, g *truth, path pathUnderTest, recv *receiver) (run *replayRun, err error) {
	trigger, pre := g.triggers()
	if len(pre) > 0 {
		if err := path.drop(pre); err != nil {
			return nil, err
		}
	}
	run = &replayRun{writer: &verdictWriter{path: path, on: path.writes(), trigger: trigger, batch: make([]int32, 0, 64)}}
	smp := recv.sample(time.Now())
	var probeRx *probeReceiver
	if c.Sender == "afxdp" {
		run.probe = &prober{base: time.Now(), offloadOnly: c.OffloadedProbesOnly}
		if probeRx, err = startProbeReceiver(w.Receiver, RecvIf, w.Queues, recv.dp, run.probe); err != nil {
			smp.stop()
			return nil, err
		}
	}
	run.cpu0, run.ru0 = readProcStat(), rusage()
	if c.Sending != nil {
		c.Sending()
	}
	run.sent, err = send(ctx, c, w, g, path, run)
	time.Sleep(100 * time.Millisecond) // let the last frames cross the wire
	run.cpu1, run.ru1 = readProcStat(), rusage()
	run.series = smp.stop()
	if probeRx != nil {
		err = errors.Join(err, probeRx.close())
	}
	if err != nil {
		return nil, err
	}
	return run, run.writer.err
}

// send replays the trace with c's sender. tcpreplay has no hook to write verdicts
// while it sends: every attack unit's verdict goes in before the replay.
func send(ctx context.Context, c *ReplayConfig, w *Wire, g *truth, path pathUnderTest, run *replayRun) (Sent, error) {
	deadline := time.Now().Add(c.MaxTime)
	if c.Sender == "tcpreplay" {
		if g.decision > 0 {
			g.decision, c.Decision = 0, 0
			if err := path.drop(g.attackUnits()); err != nil {
				return Sent{}, err
			}
		}
		return SendTcpreplay(ctx, w.Sender, SendIf, g.t, g.n, c.Timing, deadline, c.TempDir)
	}
	return sendAfxdp(ctx, w.Sender, SendIf, w.Queues, g.t, g.n, c.Timing, deadline, run.writer.after, run.probe)
}

// fill puts the run's probe latencies, verdict write time and CPU shares in r.
func (run *replayRun) fill(r *Replay) {
	if len(run.sent.Socket) > 0 {
		r.Socket = run.sent.Socket
	}
	if p := run.probe; p != nil {
		r.LatencyP50us, r.LatencyP99us, r.ProbesReceived = p.quantiles()
		r.ProbesSent = p.sent
		r.OffloadedLatencyP50us, r.OffloadedLatencyP99us, r.OffloadedProbes = p.offloadQuantiles()
	}
	if vw := run.writer; vw.writes > 0 {
		r.MitigationTime = float64(vw.took.Microseconds()) / float64(vw.writes)
	}
	if secs := run.sent.Elapsed.Seconds(); secs > 0 {
		r.ProcessCPU = (run.ru1 - run.ru0) / secs
	}
	r.MachineCPU = run.cpu1.busyShare(run.cpu0)
}

// verdictWriter writes the ground-truth verdicts due after each batch the sender
// hands to the kernel, timing each write.
type verdictWriter struct {
	path    pathUnderTest
	on      bool    // the path takes the harness's verdicts
	trigger []int32 // per frame: the unit to drop once it is sent, or -1
	done    int     // frames whose triggers were handled
	batch   []int32
	err     error // the first write error; no write follows it
	writes  int
	took    time.Duration
}

// after is the sender's hook: sent frames have been handed to the kernel.
func (v *verdictWriter) after(sent int) {
	if !v.on {
		return
	}
	v.batch = v.batch[:0]
	for ; v.done < sent; v.done++ {
		if u := v.trigger[v.done]; u >= 0 {
			v.batch = append(v.batch, u)
		}
	}
	if len(v.batch) > 0 && v.err == nil {
		t0 := time.Now()
		v.err = v.path.drop(v.batch)
		v.took += time.Since(t0)
		v.writes++
	}
}
