package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/labels"
)

// trainFlagLabels names the labels file for training from captures.
const trainFlagLabels = "labels"

// captureFormat marks a data set rebuilt from captures.
const captureFormat dataset.Format = "capture"

// isCapture reports whether the file is a pcap or pcapng capture (gzip-compressed or
// not), judged by its magic bytes.
func isCapture(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	head := make([]byte, 4)
	n, _ := io.ReadFull(r, head)
	if n >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		f.Seek(0, io.SeekStart)
		zr, err := gzip.NewReader(f)
		if err != nil {
			return false, nil
		}
		n, _ = io.ReadFull(zr, head)
	}
	if n < 4 {
		return false, nil
	}
	for _, m := range [][]byte{{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, {0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, {0x0a, 0x0d, 0x0d, 0x0a}} {
		if bytes.Equal(head, m) {
			return true, nil
		}
	}
	return false, nil
}

// captureData rebuilds labelled flows from captures: the flow engine computes each
// flow's features (at the early decision point when --decision-packets is set, as the
// appliance would classify it) and the labels file names its class. Flows no rule
// matches are left out and counted.
func captureData(c *cli.Context, paths []string) (*dataset.Dataset, error) {
	lpath := c.String(trainFlagLabels)
	if lpath == "" {
		return nil, cli.Exit(fmt.Sprintf("training from captures needs --%s FILE (engine/labels format) to label the flows", trainFlagLabels), 2)
	}
	set, err := labels.Load(lpath)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	cfg, err := tableConfig(c)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	cfg.EarlyPackets = c.Int(trainFlagDecision)
	early := cfg.EarlyPackets > 0
	d := &dataset.Dataset{X: features.NewFlowBatch(4096), Files: paths, Format: captureFormat}
	unlabelled := 0
	interned := map[string]string{}
	sink := func(f *flow.Flow, why flow.Reason) {
		if early && why != flow.Early && f.EarlyDone {
			return // recorded at its early decision point
		}
		src, sport := f.Src()
		dst, dport := f.Dst()
		l := set.Label(src, dst, sport, dport, f.Proto(), f.First(), f.Last())
		if l == "" {
			unlabelled++
			return
		}
		if s, ok := interned[l]; ok {
			l = s
		} else {
			interned[l] = l
		}
		d.X.Grow(1)
		f.WriteRow(d.X)
		d.Labels = append(d.Labels, l)
		m := &d.Meta
		m.SrcIP = append(m.SrcIP, src.String())
		m.DstIP = append(m.DstIP, dst.String())
		m.SrcPort = append(m.SrcPort, sport)
		m.DstPort = append(m.DstPort, dport)
		m.Proto = append(m.Proto, f.Proto())
		m.Timestamp = append(m.Timestamp, f.First())
	}
	t, err := flow.New(cfg, sink)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	o := &flow.Offline{Table: t}
	readErr := readCaptures(c, paths, o)
	t.Flush()
	if readErr != nil {
		return nil, cli.Exit(fmt.Sprintf("reading captures: %v", readErr), 1)
	}
	fmt.Fprintf(c.App.ErrWriter, "rebuilt %d labelled flows from %d capture(s) (%d flows matched no label rule and were left out)\n",
		d.X.Len, len(paths), unlabelled)
	if d.X.Len == 0 {
		return nil, cli.Exit(fmt.Sprintf("no flow of the captures matches a rule of %s", lpath), 2)
	}
	return d, nil
}

// trainData loads the --data files: flow tables, or captures labelled by --labels.
func trainData(c *cli.Context) (*dataset.Dataset, error) {
	paths := c.StringSlice(trainFlagData)
	captures := 0
	for _, p := range paths {
		ok, err := isCapture(p)
		if err != nil {
			return nil, cli.Exit(err.Error(), 2)
		}
		if ok {
			captures++
		}
	}
	switch captures {
	case 0:
		if c.String(trainFlagLabels) != "" {
			return nil, cli.Exit(fmt.Sprintf("--%s labels captures; the --%s files are flow tables (they carry their own labels)", trainFlagLabels, trainFlagData), 2)
		}
		return loadData(c)
	case len(paths):
		return captureData(c, paths)
	}
	return nil, cli.Exit(fmt.Sprintf("--%s mixes captures and flow tables; give one kind", trainFlagData), 2)
}
