package dataset

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/engine/features"
)

// timestampLayout is how WriteFlows writes a flow's first packet time (as
// flowsieve flows does; Load reads it back).
const timestampLayout = "2006-01-02 15:04:05.000000000"

// WriteFlows writes a data set of the flow schema with its identity as a flow table
// in the format `flowsieve flows` writes and Load reads back (Format Flows): Src IP,
// Src Port, Dst IP, Dst Port, Protocol, Timestamp, the feature columns, Label, and
// Source and Capture when the rows have them.
func WriteFlows(w io.Writer, d *Dataset) error {
	if len(d.X.Names) != features.NumFeatures || len(d.Meta.SrcIP) != d.X.Len || len(d.Labels) != d.X.Len {
		return fmt.Errorf("%w: WriteFlows needs flow-schema rows with identity and labels", ErrColumns)
	}
	for j, n := range d.X.Names {
		if n != features.Names[j] {
			return fmt.Errorf("%w: column %d is %q, want %q", ErrColumns, j, n, features.Names[j])
		}
	}
	m := &d.Meta
	src, capt := len(m.Source) == d.X.Len, len(m.Capture) == d.X.Len
	bw := bufio.NewWriterSize(w, 1<<16)
	b := append([]byte(nil), "Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp"...)
	for j, name := range features.Names {
		if j != features.Protocol {
			b = append(append(b, ','), name...)
		}
	}
	b = append(b, ",Label"...)
	if src {
		b = append(b, ",Source"...)
	}
	if capt {
		b = append(b, ",Capture"...)
	}
	b = append(b, '\n')
	bw.Write(b)
	for i := range d.X.Len {
		b = append(b[:0], m.SrcIP[i]...)
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(m.SrcPort[i]), 10)
		b = append(append(b, ','), m.DstIP[i]...)
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(m.DstPort[i]), 10)
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(m.Proto[i]), 10)
		b = append(b, ',')
		b = time.Unix(0, m.Timestamp[i]).UTC().AppendFormat(b, timestampLayout)
		for j := range features.Names {
			if j != features.Protocol {
				b = append(b, ',')
				b = strconv.AppendFloat(b, float64(d.X.Cols[j][i]), 'g', -1, 32)
			}
		}
		b = appendField(append(b, ','), d.Labels[i])
		if src {
			b = appendField(append(b, ','), m.Source[i])
		}
		if capt {
			b = appendField(append(b, ','), m.Capture[i])
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendField appends s as a CSV field, quoted (RFC 4180) when it needs to be.
func appendField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}
