package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvrrp/xvrrp/control/status"
)

// fakeDaemon answers the control socket with sampleDocument and a
// successful reload.
func fakeDaemon(t *testing.T) string {
	t.Helper()
	// A short path: sun_path is 108 bytes and t.TempDir can be long.
	d, err := os.MkdirTemp("", "xvrrpctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	sock := filepath.Join(d, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var req status.Request
			if err := json.NewDecoder(bufio.NewReader(c)).Decode(&req); err == nil {
				resp := status.Response{OK: true}
				if req.Command == status.CmdStatus {
					resp.Status = sampleDocument()
				}
				_ = json.NewEncoder(c).Encode(resp)
			}
			c.Close()
		}
	}()
	return sock
}

// Flags go anywhere after the subcommand (Go's flag package alone stops at
// the first argument, so `status VI_1 --json` used to print the table).
func TestSubcommandFlagsAnywhere(t *testing.T) {
	sock := fakeDaemon(t)
	isInstanceJSON := func(t *testing.T, out string) {
		var in status.Instance
		if err := json.Unmarshal([]byte(out), &in); err != nil || in.Name != "VI_1" || in.VRID != 51 {
			t.Fatalf("want VI_1 as JSON, got (%v):\n%s", err, out)
		}
	}
	isDocumentJSON := func(t *testing.T, out string) {
		var doc status.Document
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Instances) != 3 {
			t.Fatalf("want the document as JSON, got (%v):\n%s", err, out)
		}
	}
	isInstanceText := func(t *testing.T, out string) {
		var want bytes.Buffer
		doc := sampleDocument()
		if err := writeInstance(&want, doc, findInstance(doc, "VI_1")); err != nil {
			t.Fatal(err)
		}
		if out != want.String() {
			t.Fatalf("want VI_1's detail, got:\n%s", out)
		}
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		check    func(t *testing.T, out string)
		errMatch string
	}{
		{"Status_JSONBeforeInstance", []string{"status", "--json", "VI_1"}, 0, isInstanceJSON, ""},
		{"Status_JSONAfterInstance", []string{"status", "VI_1", "--json"}, 0, isInstanceJSON, ""},
		{"Status_SingleDashJSONAfterInstance", []string{"status", "VI_1", "-json"}, 0, isInstanceJSON, ""},
		{"Status_JSONEqualsTrueAfterInstance", []string{"status", "VI_1", "--json=true"}, 0, isInstanceJSON, ""},
		{"Status_JSONNoInstance", []string{"status", "--json"}, 0, isDocumentJSON, ""},
		{"Status_Instance_Text", []string{"status", "VI_1"}, 0, isInstanceText, ""},
		{"Status_DoubleDash_EndsFlags", []string{"status", "--", "--json"}, 1, nil, `no instance "--json"`},
		{"Status_UnknownFlagAfterInstance", []string{"status", "VI_1", "--bogus"}, 2, nil, "not defined: -bogus"},
		{"Status_TwoInstances", []string{"status", "VI_1", "VI_2"}, 2, nil, "usage: xvrrpctl status"},
		{"Reload", []string{"reload"}, 0, func(t *testing.T, out string) {
			if out != "reloaded\n" {
				t.Fatalf("%q", out)
			}
		}, ""},
		{"Reload_ExtraArgument", []string{"reload", "now"}, 2, nil, "takes no arguments"},
		{"Reload_UnknownFlag", []string{"reload", "--json"}, 2, nil, "not defined: -json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"--control-socket", sock}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			if tc.check != nil {
				tc.check(t, out.String())
			}
			if tc.errMatch != "" && !strings.Contains(errb.String(), tc.errMatch) {
				t.Fatalf("stderr %q, want it to mention %q", errb.String(), tc.errMatch)
			}
		})
	}
}

func TestCheckStrictAnywhere(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	// A valid instance plus a keyword xvrrpd does not know: a warning,
	// an error under --strict.
	body := `no_such_keyword_xyz
vrrp_instance VI_1 {
    interface lo
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        198.18.0.100/24
    }
}
`
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if code := run([]string{"check", conf}, &plain, &plain); code != 0 {
		t.Fatalf("check without --strict: exit %d:\n%s", code, plain.String())
	}
	tests := []struct {
		name string
		args []string
	}{
		{"StrictBeforeFile", []string{"check", "--strict", conf}},
		{"StrictAfterFile", []string{"check", conf, "--strict"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tc.args, &out, &out); code == 0 || code == 2 || !strings.Contains(out.String(), "no_such_keyword_xyz") {
				t.Fatalf("exit %d, want a configuration error about the unknown keyword under --strict:\n%s", code, out.String())
			}
		})
	}
	t.Run("TwoFiles", func(t *testing.T) {
		var out bytes.Buffer
		if code := run([]string{"check", conf, conf}, &out, &out); code != 2 {
			t.Fatalf("exit %d, want 2:\n%s", code, out.String())
		}
	})
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
		json bool
	}{
		{"Empty", nil, "", false},
		{"FlagFirst", []string{"--json", "a", "b"}, "a b", true},
		{"FlagMiddle", []string{"a", "--json", "b"}, "a b", true},
		{"FlagLast", []string{"a", "b", "--json"}, "a b", true},
		{"DoubleDash", []string{"a", "--", "--json", "-x"}, "a --json -x", false},
		{"DoubleDashAfterFlag", []string{"a", "--json", "--", "--"}, "a --", true},
		{"SingleDashIsArgument", []string{"-", "--json"}, "-", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flagSetForTest()
			j := fs.Bool("json", false, "")
			pos, err := parseInterspersed(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(pos, " "); got != tc.want || *j != tc.json {
				t.Fatalf("args %q json %v, want %q %v", got, *j, tc.want, tc.json)
			}
		})
	}
}

func flagSetForTest() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
