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
		s.ts = 3
		r.Commit()
		if v := r.Peek(0); v == nil || v.ts != 3 {
			t.Fatal("lost value")
		}
		r.Release(1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per push/pop", allocs)
	}
}

// TestLoanRoundTrip lends values to a consumer goroutine that answers each one, and
// checks the producer reaps every answer once, in order, and never reuses a slot
// before reaping it (run with -race).
func TestLoanRoundTrip(t *testing.T) {
	const n = 100000
	l := NewLoan[[2]uint64](16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for got := uint64(0); got < n; {
			k := 0
			for v := l.Peek(k); v != nil; v = l.Peek(k) {
				if v[0] != got {
					panic("out of order")
				}
				v[1] = v[0] * 3
				got++
				k++
			}
			l.Release(k)
		}
	}()
	next, reaped := uint64(0), uint64(0)
	for reaped < n {
		for next < n {
			s := l.Slot()
			if s == nil {
				break
			}
			*s = [2]uint64{next, 0}
			l.Commit()
			next++
		}
		k := 0
		for v := l.Reap(k); v != nil; v = l.Reap(k) {
			if v[0] != reaped || v[1] != reaped*3 {
				t.Fatalf("reaped %v, want [%d %d]", *v, reaped, reaped*3)
			}
			reaped++
			k++
		}
		l.Reaped(k)
	}
	<-done
	if l.Lent() != 0 {
		t.Fatalf("%d values still lent", l.Lent())
	}
}
