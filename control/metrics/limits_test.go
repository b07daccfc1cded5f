package metrics

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
)

// TestListenerCapsConcurrentConnections: idle connections beyond MaxConns
// wait in the kernel's queue instead of each taking a daemon descriptor
// (issue 23: 20,000 idle keep-alive connections took them all). With
// MaxConns idle ones held, a scrape is not served; once one closes, it is.
func TestListenerCapsConcurrentConnections(t *testing.T) {
	now := time.Now()
	s, err := Listen("127.0.0.1:0", NewRegistry("test", func() *status.Document { return testDocument(now) }), func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var idle []net.Conn
	for range MaxConns {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	scrape := func(timeout time.Duration) error {
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + s.Addr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %s", resp.Status)
			}
		}
		return err
	}
	if err := scrape(500 * time.Millisecond); err == nil {
		t.Fatalf("a scrape was served while %d idle connections were held, want it queued", MaxConns)
	}
	idle[0].Close()
	if err := scrape(5 * time.Second); err != nil {
		t.Fatalf("scrape after one idle connection closed: %v", err)
	}
}
