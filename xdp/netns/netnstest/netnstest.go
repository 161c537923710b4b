// Package netnstest makes the network namespaces and veth pairs a test needs
// and removes them when the test ends. Every function first calls
// kerneltest.Require, so a test skips (or fails under FLOWSIEVE_REQUIRE_KERNEL=1)
// where namespaces cannot be made.
package netnstest

import (
	"testing"

	"github.com/flowsieve/flowsieve/xdp/kerneltest"
	"github.com/flowsieve/flowsieve/xdp/netns"
)

// New makes a network namespace named after prefix (see netns.New) that is
// removed when tb ends.
func New(tb testing.TB, prefix string) *netns.NS {
	tb.Helper()
	kerneltest.Require(tb)
	ns, err := netns.New(prefix)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	return ns
}

// Pair makes two namespaces named after prefix and joins them with the veth
// pairs vs, each with NS set to the first namespace and PeerNS to the second.
// Both namespaces are removed when tb ends.
func Pair(tb testing.TB, prefix string, vs ...netns.Veth) (a, b *netns.NS) {
	tb.Helper()
	a, b = New(tb, prefix), New(tb, prefix)
	for _, v := range vs {
		v.NS, v.PeerNS = a, b
		if err := netns.AddVeth(v); err != nil {
			tb.Fatal(err)
		}
	}
	return a, b
}
