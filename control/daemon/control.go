package daemon

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
)

// controlServer answers xvrrpctl on a unix socket (mode 0600: status shows
// addresses and tracker output, and reload changes the host).
type controlServer struct {
	d    *Daemon
	ln   net.Listener
	path string
	wg   sync.WaitGroup
}

func listenControl(d *Daemon, path string) (*controlServer, error) {
	// A missing directory (the default /run/xvrrp) is made root-only.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	// A socket file left by a crashed daemon: remove it only if nobody
	// answers on it, so a second daemon cannot steal a live one's socket.
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use by another xvrrpd: stop it or pass --control-socket", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	s := &controlServer{d: d, ln: ln, path: path}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *controlServer) serve() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors (EMFILE, ENFILE) or another transient
			// error: wait, doubling up to a second, instead of spinning on
			// a listener that keeps failing.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

func (s *controlServer) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var req status.Request
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&req); err != nil {
		_ = json.NewEncoder(c).Encode(status.Response{Error: "bad request: " + err.Error()})
		return
	}
	var resp status.Response
	switch req.Command {
	case status.CmdStatus:
		resp = status.Response{OK: true, Status: s.d.Status()}
	case status.CmdReload:
		if err := s.d.Reload(); err != nil {
			resp = status.Response{Error: err.Error(), Errors: strings.Split(err.Error(), "\n")}
		} else {
			resp = status.Response{OK: true}
		}
	default:
		resp = status.Response{Error: fmt.Sprintf("unknown command %q (status, reload)", req.Command)}
	}
	_ = json.NewEncoder(c).Encode(resp)
}

func (s *controlServer) close() {
	_ = s.ln.Close()
	s.wg.Wait()
	_ = os.Remove(s.path)
}
