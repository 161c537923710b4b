package pipeline

import (
	"sync"
	"testing"
)

func TestRingOrderAndCapacity(t *testing.T) {
	for _, size := range []int{1, 2, 3, 64} {
		r := NewRing[uint64](size)
		c := r.Cap()
		if c < size || c&(c-1) != 0 {
			t.Fatalf("size %d: cap %d", size, c)
		}
		for i := range uint64(c) {
			if !r.Push(&i) {
				t.Fatalf("size %d: push %d refused before full", size, i)
			}
		}
		x := uint64(99)
		if r.Push(&x) {
			t.Fatalf("size %d: push accepted on a full ring", size)
		}
		for i := range c {
			if v := r.Peek(i); v == nil || *v != uint64(i) {
				t.Fatalf("size %d: peek %d = %v", size, i, v)
			}
		}
		if r.Peek(c) != nil {
			t.Fatalf("size %d: peek past the end", size)
		}
		r.Release(1)
		if !r.Push(&x) || *r.Peek(c - 1) != 99 {
			t.Fatalf("size %d: slot not reused after release", size)
		}
	}
}

// TestRingConcurrent streams values through the ring from one goroutine to another
// and checks every value arrives once, in order (run with -race).
func TestRingConcurrent(t *testing.T) {
	const n = 200000
	r := NewRing[[4]uint64](64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(0); i < n; {
			if s := r.Slot(); s != nil {
				*s = [4]uint64{i, i * 3, i * 5, i * 7}
				r.Commit()
				i++
			}
		}
	}()
	for want := uint64(0); want < n; {
		k := 0
		for v := r.Peek(k); v != nil; v = r.Peek(k) {
			if *v != [4]uint64{want, want * 3, want * 5, want * 7} {
				t.Fatalf("got %v, want %d", *v, want)
			}
			want++
			k++
		}
		r.Release(k)
	}
	wg.Wait()
}

func TestRingNoAlloc(t *testing.T) {
	r := NewRing[handoff](8)
	allocs := testing.AllocsPerRun(1000, func() {
		s := r.Slot()
		s.n = 3
		r.Commit()
		if v := r.Peek(0); v == nil || v.n != 3 {
			t.Fatal("lost value")
		}
		r.Release(1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per push/pop", allocs)
	}
}
