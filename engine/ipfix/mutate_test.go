package ipfix

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// sampleMessages returns the messages an exporter with the default Config
// writes for six records drawn from rng, templates first.
func sampleMessages(tb testing.TB, rng *rand.Rand) [][]byte {
	tb.Helper()
	var msgs [][]byte
	e := collect(tb, Config{}, &msgs)
	for i := range 6 {
		r := record(rng, i%2 == 1)
		e.Add(&r)
	}
	e.Flush()
	return msgs
}

// TestDecodeMutations decodes many randomly damaged copies of real messages (bytes
// flipped, cut, repeated): every one returns records or ErrMessage.
func TestDecodeMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	msgs := sampleMessages(t, rng)
	for i := range 20000 {
		m := append([]byte(nil), msgs[rng.IntN(len(msgs))]...)
		for range 1 + rng.IntN(8) {
			switch rng.IntN(3) {
			case 0:
				m[rng.IntN(len(m))] = byte(rng.Uint32())
			case 1:
				m = m[:rng.IntN(len(m))+1]
			case 2:
				j := rng.IntN(len(m))
				m = append(m[:j:j], append(m[j:j+min(8, len(m)-j)], m[j:]...)...)
			}
		}
		d := NewDecoder()
		for _, tm := range msgs[:2] {
			d.Decode(tm, nil)
		}
		if _, err := d.Decode(m, nil); err != nil && !errors.Is(err, ErrMessage) {
			t.Fatalf("mutation %d: %v", i, err)
		}
	}
}

// TestDecodeEmptyRecords: a template whose records hold no bytes cannot be read
// (a reader would loop forever): Decode rejects it.
func TestDecodeEmptyRecords(t *testing.T) {
	m := make([]byte, headerLen)
	m = append(m, 0, setTemplate, 0, 12, 1, 44, 0, 1, 0, 1, 0, 0) // template 300: one field of length 0
	m = append(m, 1, 44, 0, 8, 1, 2, 3, 4)                        // a data set of template 300
	m[1] = version
	m[3] = byte(len(m))
	_, err := NewDecoder().Decode(m, nil)
	if !errors.Is(err, ErrMessage) || !strings.Contains(err.Error(), "empty records") {
		t.Errorf("got %v, want ErrMessage for empty records", err)
	}
}
