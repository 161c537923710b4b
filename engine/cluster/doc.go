// Package cluster holds mini-batch k-means (Sculley 2010) over columnar feature
// batches: k-means++ initialisation, a streaming PartialFit for the appliance and a
// batch Fit for files, allocation-free nearest-centre prediction, and an anomaly score
// (distance to the nearest centre relative to that cluster's spread on training data).
//
// Distances are computed in a transformed space (none, standardise, or a signed log1p
// followed by standardisation) fitted on the training data and stored in the model, so a
// fitted Model takes raw feature values in their original units.
package cluster
