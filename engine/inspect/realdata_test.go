package inspect

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/shareddata"
	"github.com/flowsieve/flowsieve/engine/source"
)

// TestRealCaptures runs real third-party captures (odd link types, tunnels,
// fragments, truncated and malformed packets, floods) through the inspector with a
// model and a dropping policy and checks it against the plain offline path
// (flow.Offline) on the same frames: the same decode outcomes by reason, the same
// flows, one verdict per flow, and no panic.
func TestRealCaptures(t *testing.T) {
	data := shareddata.Dir(t)
	var files []string
	for _, dir := range []string{"zeek-traces", "debian-pkg-pcaps", "stopddos", "cicddos2019-lucid", "esnet-curated-pcaps", "malcolm-pcap", "slips", "ndpi"} {
		filepath.WalkDir(filepath.Join(data, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				switch filepath.Ext(p) {
				case ".pcap", ".pcapng", ".cap", ".gz", ".trace", ".dmp":
					files = append(files, p)
				}
			}
			return nil
		})
	}
	if len(files) == 0 {
		t.Skip("no captures found under " + data)
	}
	ms, err := NewModels(trainModel(t, trainOpts{seed: 1, cluster: true}), mustPolicy(t, dropFlood()))
	if err != nil {
		t.Fatal(err)
	}
	var total Stats
	checked := 0
	for _, path := range files {
		name, _ := filepath.Rel(data, path)
		// The reference: the offline path over the same file.
		tab, err := flow.New(flow.Config{Seed: 7, Capacity: 1 << 12}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := &flow.Offline{Table: tab}
		if err := ref.ReadFile(path); err != nil && ref.Frames == 0 {
			continue // not a capture (or unreadable before the first frame)
		}
		tab.Flush()

		ptr := deployModels(ms)
		verdicts := 0
		in, err := New(Config{Flow: flow.Config{Seed: 7, Capacity: 1 << 12}, BatchSize: 32}, ptr, func(*Verdict) { verdicts++ })
		if err != nil {
			t.Fatal(err)
		}
		r, err := source.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var frames []source.Frame
		actions := make([]policy.Action, 64)
		var fr source.Frame
		for {
			err := r.Next(&fr)
			if err != nil {
				if !errors.Is(err, io.EOF) && ref.Frames == 0 {
					t.Errorf("%s: %v", name, err)
				}
				break
			}
			fr.Data = append([]byte(nil), fr.Data...) // valid only until Next
			frames = append(frames, fr)
			if len(frames) == 64 {
				in.Process(frames, actions)
				frames = frames[:0]
			}
		}
		r.Close()
		in.Process(frames, actions[:len(frames)])
		in.End()

		st, rs := in.Stats(), tab.Stats()
		if st.Frames != ref.Frames || st.Decode != ref.Decode || st.Flows != rs.Flows ||
			st.NonIP != rs.NonIP || st.Fragments != rs.Fragments {
			t.Errorf("%s: inspector frames %d decode %v flows %d non-IP %d fragments %d; offline %d %v %d %d %d",
				name, st.Frames, st.Decode, st.Flows, st.NonIP, st.Fragments, ref.Frames, ref.Decode, rs.Flows, rs.NonIP, rs.Fragments)
		}
		if uint64(verdicts) != st.Flows || st.Classified != st.Flows {
			t.Errorf("%s: %d verdicts (%d classified) for %d flows", name, verdicts, st.Classified, st.Flows)
		}
		total.Add(&st)
		checked++
	}
	t.Logf("%d captures: %d frames (%d undecodable), %d flows, %d verdicts (%d early), %d DROP, %d frames dropped, by label %v",
		checked, total.Frames, total.Decode.Errors(), total.Flows, total.Classified, total.Early,
		total.Verdicts[policy.ActionDrop], total.DroppedFrames, total.ByLabel)
	if checked == 0 {
		t.Fatal("no capture could be read")
	}
}
