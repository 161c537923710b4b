package dataset

import (
	"strings"

	"github.com/flowsieve/flowsieve/engine/features"
)

// normName folds a column name for matching: lower case, without spaces, underscores,
// dashes or dots, so " Total Backward Packets", "Total_Backward_Packets" and
// "total backward packets" all compare equal.
func normName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case c == ' ' || c == '_' || c == '-' || c == '.' || c == '\t':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// cicAliases maps the column names used by CICFlowMeter versions and CIC data sets
// (CIC-IDS2017 MachineLearningCVE with its stray spaces, CICFlowMeter-V3 / CSE-CIC-IDS2018
// abbreviations, and the corrected CIC-IDS2017 of Engelen et al.) to the schema's names.
var cicAliases = map[string]string{
	"Dst Port":                    "Destination Port",
	"Total Fwd Packet":            "Total Fwd Packets",
	"Tot Fwd Pkts":                "Total Fwd Packets",
	"Total Backward Packets":      "Total Bwd Packets",
	"Total Bwd packets":           "Total Bwd Packets",
	"Tot Bwd Pkts":                "Total Bwd Packets",
	"Total Length of Fwd Packet":  "Total Length of Fwd Packets",
	"TotLen Fwd Pkts":             "Total Length of Fwd Packets",
	"Total Length of Bwd Packet":  "Total Length of Bwd Packets",
	"TotLen Bwd Pkts":             "Total Length of Bwd Packets",
	"Fwd Pkt Len Max":             "Fwd Packet Length Max",
	"Fwd Pkt Len Min":             "Fwd Packet Length Min",
	"Fwd Pkt Len Mean":            "Fwd Packet Length Mean",
	"Fwd Pkt Len Std":             "Fwd Packet Length Std",
	"Bwd Pkt Len Max":             "Bwd Packet Length Max",
	"Bwd Pkt Len Min":             "Bwd Packet Length Min",
	"Bwd Pkt Len Mean":            "Bwd Packet Length Mean",
	"Bwd Pkt Len Std":             "Bwd Packet Length Std",
	"Flow Byts/s":                 "Flow Bytes/s",
	"Flow Pkts/s":                 "Flow Packets/s",
	"Fwd IAT Tot":                 "Fwd IAT Total",
	"Bwd IAT Tot":                 "Bwd IAT Total",
	"Fwd Header Len":              "Fwd Header Length",
	"Bwd Header Len":              "Bwd Header Length",
	"Fwd Pkts/s":                  "Fwd Packets/s",
	"Bwd Pkts/s":                  "Bwd Packets/s",
	"Min Packet Length":           "Packet Length Min",
	"Max Packet Length":           "Packet Length Max",
	"Pkt Len Min":                 "Packet Length Min",
	"Pkt Len Max":                 "Packet Length Max",
	"Pkt Len Mean":                "Packet Length Mean",
	"Pkt Len Std":                 "Packet Length Std",
	"Pkt Len Var":                 "Packet Length Variance",
	"FIN Flag Cnt":                "FIN Flag Count",
	"SYN Flag Cnt":                "SYN Flag Count",
	"RST Flag Cnt":                "RST Flag Count",
	"PSH Flag Cnt":                "PSH Flag Count",
	"ACK Flag Cnt":                "ACK Flag Count",
	"URG Flag Cnt":                "URG Flag Count",
	"CWE Flag Count":              "CWR Flag Count", // CICFlowMeter-V3's typo
	"CWR Flag Cnt":                "CWR Flag Count",
	"ECE Flag Cnt":                "ECE Flag Count",
	"Pkt Size Avg":                "Average Packet Size",
	"Avg Fwd Segment Size":        "Fwd Segment Size Avg",
	"Avg Bwd Segment Size":        "Bwd Segment Size Avg",
	"Fwd Seg Size Avg":            "Fwd Segment Size Avg",
	"Bwd Seg Size Avg":            "Bwd Segment Size Avg",
	"Init_Win_bytes_forward":      "Fwd Init Win Bytes",
	"Init_Win_bytes_backward":     "Bwd Init Win Bytes",
	"Init Fwd Win Byts":           "Fwd Init Win Bytes",
	"Init Bwd Win Byts":           "Bwd Init Win Bytes",
	"FWD Init Win Bytes":          "Fwd Init Win Bytes",
	"act_data_pkt_fwd":            "Fwd Act Data Pkts",
	"min_seg_size_forward":        "Fwd Seg Size Min",
	"Fwd Act Data Packets":        "Fwd Act Data Pkts",
	"Fwd Header Length.1":         "", // a duplicate column of CIC-IDS2017: dropped
	"Destination Port":            "Destination Port",
	"Total Length of Fwd Packets": "Total Length of Fwd Packets",
}

// canonical maps a folded column name to its schema name.
var canonical = func() map[string]string {
	m := make(map[string]string, 2*features.NumFeatures)
	for _, n := range features.Names {
		m[normName(n)] = n
	}
	for alias, n := range cicAliases {
		m[normName(alias)] = n
	}
	return m
}()

// Canonical returns the schema name (features.Names) of a flow-record column name as
// written by flowsieve or any CICFlowMeter version, ok = false when it names no schema
// feature. A column that must be dropped (a known duplicate) gives "", true.
func Canonical(col string) (name string, ok bool) {
	n, ok := canonical[normName(col)]
	return n, ok
}
