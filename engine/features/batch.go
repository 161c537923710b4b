package features

import "fmt"

// Batch holds feature values column by column: Cols[j][i] is feature j of row i.
// Models walk one column at a time, so values of a feature sit in contiguous memory.
// A Batch is reused: Reset keeps the storage.
type Batch struct {
	Names []string    // column names, one per column
	Cols  [][]float32 // Cols[j] has capacity for Cap rows; rows [0, Len) are valid
	Len   int         // rows in use
}

// NewBatch returns an empty batch with the given column names and row capacity.
func NewBatch(names []string, capacity int) *Batch {
	b := &Batch{Names: append([]string(nil), names...), Cols: make([][]float32, len(names))}
	flat := make([]float32, len(names)*capacity)
	for j := range b.Cols {
		b.Cols[j] = flat[j*capacity : (j+1)*capacity : (j+1)*capacity]
	}
	return b
}

// NewFlowBatch returns an empty batch with the full flow schema as columns.
func NewFlowBatch(capacity int) *Batch { return NewBatch(Names[:], capacity) }

// Cap is the number of rows the batch can hold without growing.
func (b *Batch) Cap() int {
	if len(b.Cols) == 0 {
		return 0
	}
	return len(b.Cols[0])
}

// Reset empties the batch, keeping its storage.
func (b *Batch) Reset() { b.Len = 0 }

// Full reports whether the batch has no room for another row.
func (b *Batch) Full() bool { return b.Len >= b.Cap() }

// AppendRow copies one row (one value per column, in column order) into the batch
// and returns its index. It panics if the batch is full or the row has the wrong width:
// both are programmer errors.
func (b *Batch) AppendRow(row []float32) int {
	if len(row) != len(b.Cols) {
		panic(fmt.Sprintf("features: row has %d values, batch has %d columns", len(row), len(b.Cols)))
	}
	i := b.Len
	if i >= b.Cap() {
		panic("features: AppendRow on a full batch")
	}
	for j, v := range row {
		b.Cols[j][i] = v
	}
	b.Len++
	return i
}

// Grow makes room for at least n more rows, reallocating the columns if needed.
// Use it when loading data sets, never on the packet path.
func (b *Batch) Grow(n int) {
	need := b.Len + n
	if need <= b.Cap() {
		return
	}
	c := 2 * b.Cap()
	if c < need {
		c = need
	}
	flat := make([]float32, len(b.Cols)*c)
	for j := range b.Cols {
		col := flat[j*c : (j+1)*c : (j+1)*c]
		copy(col, b.Cols[j][:b.Len])
		b.Cols[j] = col
	}
}

// Row copies row i into dst (grown if needed) and returns it.
func (b *Batch) Row(i int, dst []float32) []float32 {
	if cap(dst) < len(b.Cols) {
		dst = make([]float32, len(b.Cols))
	}
	dst = dst[:len(b.Cols)]
	for j := range b.Cols {
		dst[j] = b.Cols[j][i]
	}
	return dst
}

// Column returns the valid values of column j.
func (b *Batch) Column(j int) []float32 { return b.Cols[j][:b.Len] }
