package fleet

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowsieve/flowsieve/appliance/fleet/natstest"
)

func TestMemberMetrics(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	a := join(t, srv.URL(), "a", "", nil)
	waitSynced(t, a)
	if err := a.m.Publish(ScopeBlock, netip.MustParsePrefix("192.0.2.0/24"), time.Minute, "", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "a enforces", func() bool { return a.m.Status().Enforced == 1 })
	want := `# HELP flowsieve_fleet_connected 1 while the member is connected to the NATS server, else 0.
# TYPE flowsieve_fleet_connected gauge
flowsieve_fleet_connected 1
# HELP flowsieve_fleet_enforced Fleet verdicts the member enforces in its block store now.
# TYPE flowsieve_fleet_enforced gauge
flowsieve_fleet_enforced 1
`
	if err := testutil.CollectAndCompare(a.m.Collector(), strings.NewReader(want), "flowsieve_fleet_connected", "flowsieve_fleet_enforced"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(a.m.Collector()); n != 12 {
		t.Errorf("%d metrics, want 12", n)
	}
	if problems, err := testutil.CollectAndLint(a.m.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	srv.Kill()
	waitFor(t, 5*time.Second, "a disconnected", func() bool { return !a.m.Status().Connected })
	down := strings.Replace(want, "\nflowsieve_fleet_connected 1\n", "\nflowsieve_fleet_connected 0\n", 1)
	if err := testutil.CollectAndCompare(a.m.Collector(), strings.NewReader(down), "flowsieve_fleet_connected", "flowsieve_fleet_enforced"); err != nil {
		t.Errorf("server killed: %v", err)
	}
}
