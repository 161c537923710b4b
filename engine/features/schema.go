// Package features defines the flow feature schema (names, order, units) and the
// columnar Batch that carries feature values from the flow table to the models.
package features

// Feature indices into the flow schema. The order is part of the model file format:
// append new features at the end, never reorder.
const (
	DstPort = iota
	Protocol
	FlowDuration
	TotalFwdPackets
	TotalBwdPackets
	TotalLenFwdPackets
	TotalLenBwdPackets
	FwdPktLenMax
	FwdPktLenMin
	FwdPktLenMean
	FwdPktLenStd
	BwdPktLenMax
	BwdPktLenMin
	BwdPktLenMean
	BwdPktLenStd
	FlowBytesPerSec
	FlowPacketsPerSec
	FlowIATMean
	FlowIATStd
	FlowIATMax
	FlowIATMin
	FwdIATTotal
	FwdIATMean
	FwdIATStd
	FwdIATMax
	FwdIATMin
	BwdIATTotal
	BwdIATMean
	BwdIATStd
	BwdIATMax
	BwdIATMin
	FwdPSHFlags
	BwdPSHFlags
	FwdURGFlags
	BwdURGFlags
	FwdHeaderLen
	BwdHeaderLen
	FwdPacketsPerSec
	BwdPacketsPerSec
	PktLenMin
	PktLenMax
	PktLenMean
	PktLenStd
	PktLenVariance
	FINFlagCount
	SYNFlagCount
	RSTFlagCount
	PSHFlagCount
	ACKFlagCount
	URGFlagCount
	CWRFlagCount
	ECEFlagCount
	DownUpRatio
	AvgPacketSize
	FwdSegSizeAvg
	BwdSegSizeAvg
	FwdInitWinBytes
	BwdInitWinBytes
	FwdActDataPkts
	FwdSegSizeMin
	ActiveMean
	ActiveStd
	ActiveMax
	ActiveMin
	IdleMean
	IdleStd
	IdleMax
	IdleMin

	// NumFeatures is the number of features in the flow schema.
	NumFeatures
)

// Names holds the CICFlowMeter column name of every flow feature, indexed by the
// constants above. It is the one source of truth for names and order.
var Names = [NumFeatures]string{
	DstPort:            "Destination Port",
	Protocol:           "Protocol",
	FlowDuration:       "Flow Duration",
	TotalFwdPackets:    "Total Fwd Packets",
	TotalBwdPackets:    "Total Bwd Packets",
	TotalLenFwdPackets: "Total Length of Fwd Packets",
	TotalLenBwdPackets: "Total Length of Bwd Packets",
	FwdPktLenMax:       "Fwd Packet Length Max",
	FwdPktLenMin:       "Fwd Packet Length Min",
	FwdPktLenMean:      "Fwd Packet Length Mean",
	FwdPktLenStd:       "Fwd Packet Length Std",
	BwdPktLenMax:       "Bwd Packet Length Max",
	BwdPktLenMin:       "Bwd Packet Length Min",
	BwdPktLenMean:      "Bwd Packet Length Mean",
	BwdPktLenStd:       "Bwd Packet Length Std",
	FlowBytesPerSec:    "Flow Bytes/s",
	FlowPacketsPerSec:  "Flow Packets/s",
	FlowIATMean:        "Flow IAT Mean",
	FlowIATStd:         "Flow IAT Std",
	FlowIATMax:         "Flow IAT Max",
	FlowIATMin:         "Flow IAT Min",
	FwdIATTotal:        "Fwd IAT Total",
	FwdIATMean:         "Fwd IAT Mean",
	FwdIATStd:          "Fwd IAT Std",
	FwdIATMax:          "Fwd IAT Max",
	FwdIATMin:          "Fwd IAT Min",
	BwdIATTotal:        "Bwd IAT Total",
	BwdIATMean:         "Bwd IAT Mean",
	BwdIATStd:          "Bwd IAT Std",
	BwdIATMax:          "Bwd IAT Max",
	BwdIATMin:          "Bwd IAT Min",
	FwdPSHFlags:        "Fwd PSH Flags",
	BwdPSHFlags:        "Bwd PSH Flags",
	FwdURGFlags:        "Fwd URG Flags",
	BwdURGFlags:        "Bwd URG Flags",
	FwdHeaderLen:       "Fwd Header Length",
	BwdHeaderLen:       "Bwd Header Length",
	FwdPacketsPerSec:   "Fwd Packets/s",
	BwdPacketsPerSec:   "Bwd Packets/s",
	PktLenMin:          "Packet Length Min",
	PktLenMax:          "Packet Length Max",
	PktLenMean:         "Packet Length Mean",
	PktLenStd:          "Packet Length Std",
	PktLenVariance:     "Packet Length Variance",
	FINFlagCount:       "FIN Flag Count",
	SYNFlagCount:       "SYN Flag Count",
	RSTFlagCount:       "RST Flag Count",
	PSHFlagCount:       "PSH Flag Count",
	ACKFlagCount:       "ACK Flag Count",
	URGFlagCount:       "URG Flag Count",
	CWRFlagCount:       "CWR Flag Count",
	ECEFlagCount:       "ECE Flag Count",
	DownUpRatio:        "Down/Up Ratio",
	AvgPacketSize:      "Average Packet Size",
	FwdSegSizeAvg:      "Fwd Segment Size Avg",
	BwdSegSizeAvg:      "Bwd Segment Size Avg",
	FwdInitWinBytes:    "Fwd Init Win Bytes",
	BwdInitWinBytes:    "Bwd Init Win Bytes",
	FwdActDataPkts:     "Fwd Act Data Pkts",
	FwdSegSizeMin:      "Fwd Seg Size Min",
	ActiveMean:         "Active Mean",
	ActiveStd:          "Active Std",
	ActiveMax:          "Active Max",
	ActiveMin:          "Active Min",
	IdleMean:           "Idle Mean",
	IdleStd:            "Idle Std",
	IdleMax:            "Idle Max",
	IdleMin:            "Idle Min",
}

// Index returns the schema index of the feature with the given canonical name.
func Index(name string) (int, bool) {
	i, ok := index[name]
	return i, ok
}

var index = func() map[string]int {
	m := make(map[string]int, NumFeatures)
	for i, n := range Names {
		m[n] = i
	}
	return m
}()
