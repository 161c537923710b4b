package wire

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/flowsieve/flowsieve/xdp/netns"
)

// Scrape GETs path (e.g. /metrics or /healthz) from an HTTP listener at addr inside ns,
// where a daemon under test serves its metrics; the caller's own namespace may have no
// route there. It returns the body, and an error for any status but 200.
func Scrape(ns *netns.NS, addr, path string) (string, error) {
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: flowsieve\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("%s: %s", path, resp.Status)
	}
	return string(b), err
}
