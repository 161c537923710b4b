package ipfix

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the Decoder, after the templates of a real
// exporter: it must return records or ErrMessage, never panic or hang.
func FuzzDecode(f *testing.F) {
	msgs := sampleMessages(f, rand.New(rand.NewPCG(1, 2)))
	for _, m := range msgs {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := NewDecoder()
		for _, m := range msgs[:2] { // the templates
			if _, err := d.Decode(m, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Decode(msg, nil); err != nil && !errors.Is(err, ErrMessage) {
			t.Fatalf("error without ErrMessage: %v", err)
		}
	})
}
