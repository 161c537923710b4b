// Package cluster holds mini-batch k-means (Sculley 2010) over columnar feature
// batches: k-means++ initialisation, a streaming PartialFit for the appliance and a
// batch Fit for files, allocation-free nearest-centre prediction, and an anomaly score
// (distance to the nearest centre relative to that cluster's spread on training data).
//
// Fit follows scikit-learn's MiniBatchKMeans schedule (n_init k-means++ starts on an
// init sample scored on a validation sample, per-centre learning rates 1/count, early
// stopping on the smoothed batch inertia, reassignment of starved centres), so results
// compare side by side (bench/kmeans).
//
// Distances are computed in a transformed space (none, standardise, or a signed log1p
// followed by standardisation) fitted on the training data and stored in the model, so a
// fitted Model takes raw feature values in their original units. The nearest-centre
// kernel walks the columns of a block of rows and keeps one accumulator per centre in a
// vector register: AVX-512 (16 rows per step) or AVX2+FMA (8 rows) on amd64 CPUs that
// have them, portable Go otherwise. The paths round differently in the last bit, so a
// given seed reproduces the same model on the same kind of CPU; near-ties can resolve
// differently across kinds.
//
// # Model file
//
// A model saves as one JSON document (Model.Save, Load), or is embedded as a member of
// another file through its Spec (the tree model file can carry it as "cluster": Spec, and
// load it with Spec.Model). Fields: format ("flowsieve-kmeans"), version (1), features
// (names, in order), transform and its per-feature mean and scale, centres (k × features,
// transformed space), counts, spreads (per cluster, the spread_quantile of training
// distances), threshold, inertia and rows. Loading validates every field and names the
// offending one in the error.
package cluster
