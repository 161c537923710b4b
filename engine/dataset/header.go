package dataset

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flowsieve/flowsieve/engine/features"
)

// detect guesses the format of a file from its first record.
func detect(first []string, labelCol string) (Format, error) {
	if len(first) >= 4 {
		if _, err := strconv.ParseFloat(strings.TrimSpace(first[0]), 64); err == nil {
			switch p := first[1]; {
			case p != "tcp" && p != "udp" && p != "icmp":
			case len(first) == 42:
				return KDD99, nil
			case len(first) == 43:
				return NSLKDD, nil
			}
			return "", fmt.Errorf("%w: the first line is not a header and not a KDD record (%d fields)", ErrFormat, len(first))
		}
	}
	cols := make(map[string]bool, len(first))
	for _, h := range first {
		cols[normName(h)] = true
	}
	all := true
	for _, n := range features.Names {
		if !cols[normName(n)] {
			all = false
			break
		}
	}
	switch {
	case normName(first[0]) == "srcip" && all:
		return Flows, nil
	case cols["flowduration"]:
		return CIC, nil
	case cols["sbytes"] && cols["dbytes"]:
		return UNSW, nil
	case cols["label"] || (labelCol != "" && cols[normName(labelCol)]):
		return CSV, nil
	}
	return "", fmt.Errorf("%w: header matches no known format (give --format)", ErrFormat)
}

// ignored lists columns that are neither features nor labels: row ids, addresses kept
// only as identity, free-text categories.
var ignored = map[string]bool{
	"id": true, "flowid": true, "unnamed:0": true, "attemptedcategory": true,
	"simillarhttp": true, "attackcat": true, "label": true,
	// UNSW-NB15 nominal and time columns
	"proto": true, "state": true, "service": true, "stime": true, "ltime": true,
}

// identity maps folded column names of flow identity to their Meta column; feature
// reports whether the column is also a model feature (destination port, protocol).
var identity = map[string]struct {
	kind    metaKind
	feature bool
}{
	"srcip": {metaSrcIP, false}, "sourceip": {metaSrcIP, false},
	"dstip": {metaDstIP, false}, "destinationip": {metaDstIP, false},
	"srcport": {metaSrcPort, false}, "sourceport": {metaSrcPort, false}, "sport": {metaSrcPort, false},
	"dstport": {metaDstPort, true}, "destinationport": {metaDstPort, true}, "dsport": {metaDstPort, false},
	"protocol":  {metaProto, true},
	"timestamp": {metaTime, false},
	"source":    {metaSource, false},
	"capture":   {metaCapture, false},
}

// headerPlan builds the column plan of a headered file.
func headerPlan(format Format, header []string, labelCol string) ([]colPlan, []string, error) {
	want := "label"
	if labelCol != "" {
		want = normName(labelCol)
	}
	plan := make([]colPlan, len(header))
	feat := make([]string, len(header)) // feature name per column, "" for none
	haveLabel := false
	var seen [numMeta]bool
	for i, h := range header {
		plan[i].feat = -1
		n := normName(h)
		if n == want && !haveLabel {
			plan[i].label = true
			haveLabel = true
			continue
		}
		if id, ok := identity[n]; ok && format != CSV {
			if !seen[id.kind] {
				seen[id.kind] = true
				plan[i].meta = id.kind
				if id.kind == metaProto && format == UNSW {
					plan[i].meta = metaNone // UNSW's proto is a name, not a number
				}
			}
			if !id.feature {
				continue
			}
		}
		if ignored[n] && format != CSV {
			continue
		}
		name := strings.TrimSpace(h)
		if format == Flows || format == CIC {
			if c, ok := Canonical(h); ok {
				name = c // "" drops a known duplicate column
			}
		}
		feat[i] = name
	}
	if labelCol != "" && !haveLabel {
		return nil, nil, fmt.Errorf("%w: no label column %q in the header", ErrFormat, labelCol)
	}
	// When two columns give the same feature name (flowsieve's records carry "Dst Port"
	// and "Protocol" as identity and again as features), the last one is the feature.
	last := make(map[string]int, len(feat))
	for i, n := range feat {
		if n != "" {
			last[n] = i
		}
	}
	var names []string
	for i, n := range feat {
		if n != "" && last[n] == i {
			plan[i].feat = len(names)
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("%w: no feature columns in the header", ErrFormat)
	}
	return plan, names, nil
}

// remap points the plan of a later file at the columns of the first file; the files
// must have the same feature columns (order may differ).
func remap(plan []colPlan, names, want []string) error {
	pos := make(map[string]int, len(want))
	for j, n := range want {
		pos[n] = j
	}
	if len(names) != len(want) {
		return fmt.Errorf("%w: %d feature columns, the first file has %d", ErrColumns, len(names), len(want))
	}
	for i := range plan {
		p := &plan[i]
		switch {
		case p.feat >= 0:
			j, ok := pos[names[p.feat]]
			if !ok {
				return fmt.Errorf("%w: column %q is not in the first file", ErrColumns, names[p.feat])
			}
			p.feat = j
		case p.cat != nil:
			if want[p.cat.base] != names[p.cat.base] {
				return fmt.Errorf("%w: column %q does not match %q", ErrColumns, names[p.cat.base], want[p.cat.base])
			}
		}
	}
	return nil
}
